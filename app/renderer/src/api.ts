// The renderer's only door to the world: `window.phantommesh` (PhantomMeshApi). It is set before
// the app bundle runs in Electron (preload) and by the browser host's script; waitForApi covers a
// host whose script lands a moment later.

import type {
  AppEvent,
  InvokeName,
  InvokeParams,
  InvokeResult,
  PhantomMeshApi,
} from '../../../shared/src/ipc/schema.ts';
import { strings } from './strings.ts';

let api: PhantomMeshApi | null = null;

export function waitForApi(timeoutMs = 10_000): Promise<PhantomMeshApi> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (window.phantommesh) {
        api = window.phantommesh;
        resolve(api);
      } else if (Date.now() - started > timeoutMs) reject(new Error('window.phantommesh is missing'));
      else setTimeout(check, 25);
    };
    check();
  });
}

export function invoke<M extends InvokeName>(method: M, params: InvokeParams<M>): Promise<InvokeResult<M>> {
  if (!api) return Promise.reject(new Error('not connected to the app yet'));
  return api.invoke(method, params);
}

export function onEvent(listener: (event: AppEvent) => void): () => void {
  if (!api) throw new Error('not connected to the app yet');
  return api.onEvent(listener);
}

/** An invoke failure: the message is for people; `line` points into a config. */
export interface Failure {
  message: string;
  code?: string;
  line?: number;
}

export function failure(error: unknown): Failure {
  if (error && typeof error === 'object') {
    const { message, code, line } = error as { message?: unknown; code?: unknown; line?: unknown };
    return {
      message:
        typeof message === 'string' && message !== '' ? stripIpcPrefix(message) : strings.errors.unknown,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof line === 'number' ? { line } : {}),
    };
  }
  return { message: typeof error === 'string' ? error : strings.errors.unknown };
}

/** Electron prefixes rejected invokes with "Error invoking remote method 'x': Error: ". */
function stripIpcPrefix(message: string): string {
  return message.replace(/^Error invoking remote method '[^']*': (?:\w*Error: )?/, '');
}

/**
 * A helper message as shown: "line N:" reads "Line N:". Nothing else is changed (a message may start
 * with a tunnel name, whose case matters).
 */
export function sentence(message: string): string {
  return strings.configErrors.line(message);
}
