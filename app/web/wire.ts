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
/** 204 when ?token=… is the host's access token, 403 otherwise: the shim's way to say which failed. */
export const TOKEN_CHECK_PATH = '/token-check';

/**
 * Why the page has no link to the browser host. The shim pushes it to the renderer as an event of
 * its own (the host never sends it): the renderer then tells the person what to do.
 */
export type HostProblem = 'no-token' | 'token-refused' | 'host-unreachable' | 'host-closed';
export interface HostProblemEvent {
  type: 'host-problem';
  problem: HostProblem;
}
