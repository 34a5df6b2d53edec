// JSON-RPC 2.0 replies as the control server sends them, shared by the session (every answer) and
// the listener (the one refusal an unauthorized caller gets).

import type { Writable } from 'node:stream';
import { encodeFrame } from '../../../shared/src/control/framing.ts';
import type { ErrorObject } from '../../../shared/src/control/protocol.ts';

export type Id = number | string | null;
export type Reply = { jsonrpc: '2.0'; id: Id } & ({ result: unknown } | { error: ErrorObject });

export const errorReply = (id: Id, code: number, dataCode: string, message: string): Reply => ({
  jsonrpc: '2.0',
  id,
  error: { code, message, data: { code: dataCode } },
});

/** A request's id if it has a usable one, so even a refusal can be matched to its request. */
export function idOf(message: unknown): Id {
  if (typeof message !== 'object' || message === null || !('id' in message)) return null;
  const { id } = message;
  return typeof id === 'number' || typeof id === 'string' ? id : null;
}

/** Sends one last error reply, then closes the stream once it is written. */
export function endWithError(
  stream: Writable,
  id: Id,
  code: number,
  dataCode: string,
  message: string,
): void {
  stream.end(encodeFrame(errorReply(id, code, dataCode, message)), () => stream.destroy());
}
