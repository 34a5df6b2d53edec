// The preload: the page gets `window.phantommesh` (PhantomMeshApi from the IPC schema) and nothing
// else: no ipcRenderer, no Node objects, no channel names. Bundled to CommonJS by vite.config.ts,
// because a sandboxed preload can require only 'electron' and a few built-ins, not other files.

import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from '../../shared/src/ipc/channels.ts';
import type { AppEvent } from '../../shared/src/ipc/schema.ts';
import { installApi, type PreloadBridge } from './main-world.ts';

const bridge: PreloadBridge = {
  invoke: (method, params) => ipcRenderer.invoke(INVOKE_CHANNEL, { method, params }),
  onEvent(listener) {
    const forward = (_event: IpcRendererEvent, appEvent: AppEvent) => listener(appEvent);
    ipcRenderer.on(EVENT_CHANNEL, forward);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, forward);
    };
  },
};

contextBridge.executeInMainWorld({ func: installApi, args: [bridge] });
