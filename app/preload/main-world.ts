// The half of the preload that runs in the page's own world. Electron's contextBridge copies only the
// `message` of an Error that crosses it, so an API exposed with exposeInMainWorld could not reject
// with the `code`, `line` and `key` the config editor needs. Instead the preload passes this function
// two bridged functions (`bridge`) and runs it in the main world (contextBridge.executeInMainWorld):
// the Error is made here, in the page's world, and keeps its fields.
//
// This function is serialized: it may use only its parameter and the page's globals. It touches no
// DOM type, so it type-checks (and can be tested) outside a browser too.

import type {
  AppEvent,
  InvokeName,
  InvokeParams,
  InvokeReply,
  PhantomMeshApi,
} from '../../shared/src/ipc/schema.ts';

/** What the isolated world lends the page: an invoke that answers with the reply envelope, and events. */
export interface PreloadBridge {
  invoke<M extends InvokeName>(method: M, params: InvokeParams<M>): Promise<InvokeReply<M>>;
  onEvent(listener: (event: AppEvent) => void): () => void;
}

export function installApi(bridge: PreloadBridge): void {
  const api: PhantomMeshApi = {
    async invoke(method, params) {
      const reply = await bridge.invoke(method, params);
      if (reply.ok) return reply.result;
      const { message, ...details } = reply.error;
      throw Object.assign(new Error(message), details);
    },
    onEvent: (listener) => bridge.onEvent(listener),
  };
  // Read-only and frozen, like exposeInMainWorld's own objects: page scripts cannot swap it.
  Object.defineProperty(globalThis, 'phantommesh', { value: Object.freeze(api), enumerable: true });
}
