// The app's one window: sandboxed, context-isolated, no Node in the page, the preload as its only
// bridge, the app's own page from app://phantommesh. Closing it hides it while closeToTray is on.

import { BrowserWindow } from 'electron';
import { APP_URL, hardenContents } from './security.ts';

export interface MainWindowOptions {
  preloadPath: string;
  /** DevTools only in development. */
  allowDevTools: boolean;
  /** Shown as soon as it is ready; false when the OS started the app at login. */
  show: boolean;
  /** Asked when the user closes the window: true keeps the app running in the tray. */
  hideOnClose: () => boolean;
  openExternal: (url: string) => void;
}

export function createMainWindow(options: MainWindowOptions): BrowserWindow {
  const window = new BrowserWindow({
    width: 960,
    height: 640,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: 'PhantomMesh',
    autoHideMenuBar: true,
    webPreferences: {
      preload: options.preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: options.allowDevTools,
    },
  });
  hardenContents(window.webContents, options.openExternal);
  if (options.show) window.once('ready-to-show', () => window.show());
  window.on('close', (event) => {
    if (!options.hideOnClose()) return;
    event.preventDefault();
    window.hide();
  });
  void window.loadURL(APP_URL);
  return window;
}

export function showWindow(window: BrowserWindow): void {
  if (window.isMinimized()) window.restore();
  window.show();
  window.focus();
}
