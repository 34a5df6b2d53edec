// The browser host's WebSocket messages (JSON, one per WebSocket message): the shim sends requests,
// the host answers each with its InvokeReply and pushes every AppEvent.

import type { AppEvent, InvokeName, InvokeReply } from '../../shared/src/ipc/schema.ts';

export interface WireRequest {
  id: number;
  method: string;
  params: unknown;
}

export type WireMessage = { id: number; reply: InvokeReply<InvokeName> } | { event: AppEvent };

/** The IPC endpoint; the token rides in its query: /ipc?token=… */
export const IPC_PATH = '/ipc';
export const SHIM_PATH = '/phantommesh-shim.js';
