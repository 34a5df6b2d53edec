// The IPC contract as the app's processes use it: shared/src/ipc/schema.ts, with one change the app
// needed before the shared schema had it:
//
// - `app.exportTunnel` takes `includePrivateKey`: a full backup, the wg-quick file with its private
//   key, which the helper gives to root only (tunnels.export refuses anyone else with NOT_AUTHORIZED).
//   The main process writes it to the file the user picked; the renderer still never sees a key.
//
// The controller validates against `invokes` here; the preload, the browser host's shim and the
// renderer take their types from here. Events, settings and channels are the shared schema's.

import { z } from 'zod';
import { TunnelName } from '../shared/src/control/protocol.ts';
import { invokes as sharedInvokes, type AppEvent, type InvokeFailure } from '../shared/src/ipc/schema.ts';

export {
  AppEvent,
  AppSettings,
  HelperConnection,
  InvokeFailure,
  Theme,
  EVENT_CHANNEL,
  INVOKE_CHANNEL,
} from '../shared/src/ipc/schema.ts';

export const invokes = {
  ...sharedInvokes,
  /** A save dialog, then the tunnel's file written there: without secrets, or (root only) in full. */
  'app.exportTunnel': {
    params: z.strictObject({ name: TunnelName, includePrivateKey: z.boolean().optional() }),
    result: sharedInvokes['app.exportTunnel'].result,
  },
} as const;

export type InvokeName = keyof typeof invokes;
export type InvokeParams<M extends InvokeName> = z.infer<(typeof invokes)[M]['params']>;
export type InvokeResult<M extends InvokeName> = z.infer<(typeof invokes)[M]['result']>;

export function isInvokeName(name: unknown): name is InvokeName {
  return typeof name === 'string' && Object.hasOwn(invokes, name);
}

/** `window.phantommesh`: what the preload (and the browser host's shim) expose. */
export interface PhantomMeshApi {
  invoke<M extends InvokeName>(method: M, params: InvokeParams<M>): Promise<InvokeResult<M>>;
  onEvent(listener: (event: AppEvent) => void): () => void;
}

/** The reply envelope of every invoke: a result or a failure, never a thrown Error. */
export type InvokeReply<M extends InvokeName> =
  { ok: true; result: InvokeResult<M> } | { ok: false; error: InvokeFailure };
