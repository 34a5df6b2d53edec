// The renderer's IPC: one invoke channel into the AppController, one event channel out. Unlike
// Mullvad's handlers, which ignore the sender, a request counts only when it comes from the top frame
// of the app's own window showing the app's own page: a frame or page that got in by some other bug
// still cannot drive the VPN. Electron is only a type here (the ipcMain is passed in), so the checks
// run in plain Node tests.

import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import {
  EVENT_CHANNEL,
  INVOKE_CHANNEL,
  type AppEvent,
  type InvokeName,
  type InvokeReply,
} from '../../shared/src/ipc/schema.ts';
import type { AppController } from './app-controller.ts';
import { isAppUrl } from './security.ts';

export interface IpcOptions {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>;
  controller: Pick<AppController, 'invoke'>;
  /** The app window's contents, the only ones allowed to call; null while there is no window. */
  trustedContents: () => WebContents | null;
}

/** Why `event` may not call, or null when it may. */
export function refuseSender(event: IpcMainInvokeEvent, trusted: WebContents | null): string | null {
  if (trusted === null || event.sender !== trusted) return 'not the app window';
  const frame = event.senderFrame;
  if (frame === null || frame.parent !== null) return 'not the top frame of the app window';
  if (!isAppUrl(frame.url)) return 'not the app page';
  return null;
}

function refusal(code: string, message: string): InvokeReply<InvokeName> {
  return { ok: false, error: { code, message } };
}

/** Registers the invoke handler; returns the function that removes it. */
export function registerIpc(options: IpcOptions): () => void {
  options.ipcMain.handle(INVOKE_CHANNEL, async (event, request: unknown) => {
    const refused = refuseSender(event, options.trustedContents());
    if (refused !== null) return refusal('FORBIDDEN', `request refused: ${refused}`);
    if (typeof request !== 'object' || request === null || Array.isArray(request))
      return refusal('INVALID_REQUEST', 'a request is an object { method, params }');
    const { method, params } = request as { method?: unknown; params?: unknown };
    return options.controller.invoke(method, params);
  });
  return () => options.ipcMain.removeHandler(INVOKE_CHANNEL);
}

/** Pushes an event to the app window, if it is there. */
export function sendEvent(contents: WebContents | null, event: AppEvent): void {
  if (contents && !contents.isDestroyed()) contents.send(EVENT_CHANNEL, event);
}
