// `window.phantommesh` for the renderer in an ordinary browser: the same PhantomMeshApi the preload
// gives it in Electron, carried over the browser host's WebSocket. The host serves it as
// /phantommesh-shim.js and puts it first in index.html, so it is there before the renderer's code runs.
//
// installShim is serialized (web-host.ts sends its source): it may use only its own code and the page's
// globals, which it reaches through globalThis with the few types it declares, so that it type-checks
// without DOM types. The access token comes from the page address the host printed (?token=…); it is
// kept in sessionStorage for reloads and taken out of the address bar. When the host refuses the page
// (no token, a wrong one) or is gone, the shim finds out which and tells the renderer with a
// HostProblemEvent, so the page says what to do instead of blaming the helper.

import type { AppEvent, PhantomMeshApi } from '../../shared/src/ipc/schema.ts';
import type { HostProblem, HostProblemEvent, WireMessage, WireRequest } from './wire.ts';

interface ShimSocket {
  readyState: number;
  send(data: string): void;
  addEventListener(type: 'open' | 'close', listener: () => void): void;
  addEventListener(type: 'message', listener: (message: { data: unknown }) => void): void;
}

interface Page {
  location: { search: string; host: string; pathname: string; hash: string };
  history: { replaceState(data: unknown, unused: string, url: string): void };
  sessionStorage: {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
    removeItem(key: string): void;
  };
  WebSocket: new (url: string) => ShimSocket;
  fetch(url: string, init: { cache: 'no-store' }): Promise<{ status: number }>;
}

export function installShim(): void {
  const page = globalThis as unknown as Page;
  const TOKEN_KEY = 'phantommesh-token';
  // TOKEN_CHECK_PATH in wire.ts; this function is serialized, so it cannot import it.
  const TOKEN_CHECK = '/token-check';
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
  let opened = false;
  /** Set once the socket closed: why this page has no link to the host. */
  let problem: HostProblem | null = null;

  const emit = (event: AppEvent | HostProblemEvent) => {
    for (const listener of listeners) {
      try {
        // A HostProblemEvent is the shim's own; the renderer knows it (the host never sends one).
        listener(event as AppEvent);
      } catch (error) {
        console.error(error);
      }
    }
  };
  const MESSAGES: Record<HostProblem, string> = {
    'no-token':
      'This page has no access token: open the address that npm run web or npm start printed, with its ?token=… part.',
    'token-refused':
      "The browser host refused this page's access token (it makes a new one each time it starts): open the address that npm run web or npm start printed, with its token.",
    'host-unreachable':
      'The PhantomMesh browser host is not reachable: start it with npm run web or npm start and open the address it prints.',
    'host-closed':
      'The PhantomMesh browser host closed the connection (it stopped?): start it again with npm run web or npm start and open the address it prints.',
  };
  const hostError = (why: HostProblem) =>
    Object.assign(new Error(MESSAGES[why]), { code: why.toUpperCase().replaceAll('-', '_') });

  /** Why a socket that never opened was refused: no token, a wrong one, or no host to ask. */
  const diagnose = async (): Promise<HostProblem> => {
    if (opened) return 'host-closed';
    if (!token) return 'no-token';
    try {
      const answer = await page.fetch(`${TOKEN_CHECK}?token=${encodeURIComponent(token)}`, {
        cache: 'no-store',
      });
      if (answer.status !== 403) return 'host-unreachable';
      // A stale token is of no use on a reload: the next load says "no token" instead.
      page.sessionStorage.removeItem(TOKEN_KEY);
      return 'token-refused';
    } catch {
      return 'host-unreachable';
    }
  };

  const socket = new page.WebSocket(`ws://${page.location.host}/ipc?token=${encodeURIComponent(token)}`);
  /** Settles once the socket is open, or has failed to open and the reason is known. */
  const settled = new Promise<void>((resolve) => {
    socket.addEventListener('open', () => {
      opened = true;
      resolve();
    });
    socket.addEventListener('close', () => {
      void diagnose().then((why) => {
        problem = why;
        // The renderer hears why first, then the calls under way fail with the same reason.
        emit({ type: 'host-problem', problem: why });
        for (const call of pending.values()) call.reject(hostError(why));
        pending.clear();
        resolve();
      });
    });
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

  const api: PhantomMeshApi = {
    async invoke(method, params) {
      await settled;
      if (problem !== null) throw hostError(problem);
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
