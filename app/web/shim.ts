// `window.phantommesh` for the renderer in an ordinary browser: the same PhantomMeshApi the preload
// gives it in Electron, carried over the browser host's WebSocket. The host serves it as
// /phantommesh-shim.js and puts it first in index.html, so it is there before the renderer's code runs.
//
// installShim is serialized (server.ts sends its source): it may use only its own code and the page's
// globals, which it reaches through globalThis with the few types it declares, so that it type-checks
// without DOM types. The access token comes from the page address the host printed (?token=…); it is
// kept in sessionStorage for reloads and taken out of the address bar.

import type { AppEvent, PhantomMeshApi } from '../../shared/src/ipc/schema.ts';
import type { WireMessage, WireRequest } from './wire.ts';

interface ShimSocket {
  readyState: number;
  send(data: string): void;
  addEventListener(type: 'open' | 'close', listener: () => void): void;
  addEventListener(type: 'message', listener: (message: { data: unknown }) => void): void;
}

interface Page {
  location: { search: string; host: string; pathname: string; hash: string };
  history: { replaceState(data: unknown, unused: string, url: string): void };
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  WebSocket: new (url: string) => ShimSocket;
}

export function installShim(): void {
  const page = globalThis as unknown as Page;
  const TOKEN_KEY = 'phantommesh-token';
  const query = new URLSearchParams(page.location.search);
  const fromAddress = query.get('token');
  if (fromAddress !== null) {
    page.sessionStorage.setItem(TOKEN_KEY, fromAddress);
    query.delete('token');
    const rest = query.toString();
    page.history.replaceState(
      null,
      '',
      `${page.location.pathname}${rest ? `?${rest}` : ''}${page.location.hash}`,
    );
  }
  const token = fromAddress ?? page.sessionStorage.getItem(TOKEN_KEY) ?? '';

  type Pending = { resolve: (result: unknown) => void; reject: (error: Error) => void };
  const pending = new Map<number, Pending>();
  const listeners = new Set<(event: AppEvent) => void>();
  let nextId = 1;
  let closed = false;

  const emit = (event: AppEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        console.error(error);
      }
    }
  };
  const hostGone = () =>
    Object.assign(new Error('The PhantomMesh browser host closed the connection: reload the page.'), {
      code: 'HOST_DISCONNECTED',
    });

  const socket = new page.WebSocket(`ws://${page.location.host}/ipc?token=${encodeURIComponent(token)}`);
  /** Settles once the socket is open, or has failed to open. */
  const settled = new Promise<void>((resolve) => {
    socket.addEventListener('open', () => resolve());
    socket.addEventListener('close', () => resolve());
  });
  socket.addEventListener('message', ({ data }) => {
    const message = JSON.parse(String(data)) as WireMessage;
    if ('event' in message) return emit(message.event);
    const call = pending.get(message.id);
    if (!call) return;
    pending.delete(message.id);
    if (message.reply.ok) return call.resolve(message.reply.result);
    const { message: text, ...details } = message.reply.error;
    call.reject(Object.assign(new Error(text), details));
  });
  socket.addEventListener('close', () => {
    closed = true;
    for (const call of pending.values()) call.reject(hostGone());
    pending.clear();
    // The renderer already knows how to show a missing helper; here the whole host is missing.
    emit({
      type: 'helper-connection',
      connection: {
        state: 'unavailable',
        message: token
          ? 'The PhantomMesh browser host is not reachable (stopped, or it refused the access token). ' +
            'Start it again and open the address it prints.'
          : 'No access token: open the address the PhantomMesh browser host printed (it ends in ?token=…).',
        canFix: false,
      },
    });
  });

  const api: PhantomMeshApi = {
    async invoke(method, params) {
      await settled;
      if (closed) throw hostGone();
      const id = nextId++;
      const request: WireRequest = { id, method, params };
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
        socket.send(JSON.stringify(request));
      });
    },
    onEvent(listener) {
      const wrapped = (event: AppEvent) => listener(event);
      listeners.add(wrapped);
      return () => {
        listeners.delete(wrapped);
      };
    },
  };
  Object.defineProperty(globalThis, 'phantommesh', { value: Object.freeze(api), enumerable: true });
}
