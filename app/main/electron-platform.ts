// The Platform of the Electron app: native dialogs, the user's browser, login items, notifications and
// the OS's way of starting the helper.

import { join } from 'node:path';
import { app, dialog, Notification, shell, type BrowserWindow } from 'electron';
import { PhantomError } from '../../shared/src/errors.ts';
import type { TransportFileKind } from '../../shared/src/ipc/schema.ts';
import { fixHelper } from './fix-helper.ts';
import { macosHelperHint } from './macos-helper.ts';
import type { WindowsCalls } from './pipe-server-check_windows.ts';
import { windowsPlatformParts } from './windows-helper.ts';
import { isAllowedLink } from './links.ts';
import { writeSaved } from './save-file.ts';
import { setStartAtLogin } from './login-item.ts';
import type { AppNotification } from './notifications.ts';
import type { Platform } from './platform.ts';

export interface ElectronPlatformOptions {
  /** The window dialogs belong to, when there is one. */
  window: () => BrowserWindow | null;
  /** A notification about a tunnel was clicked. */
  onNotificationClick: (notification: AppNotification) => void;
  /**
   * Windows: the app's calls through koffi (pipe-server-check_windows.ts), or why they could not be
   * loaded; then the helper is refused (its pipe cannot be checked) and the hint cannot ask the SCM.
   */
  windows?: WindowsCalls | Error;
}

/** The command that starts this app: packaged, its executable; in development, Electron and the app. */
function appCommand(): string[] {
  return app.isPackaged ? [process.execPath] : [process.execPath, app.getAppPath()];
}

const TRANSPORT_FILE_DIALOG: Record<
  TransportFileKind,
  { title: string; filter: string; extensions: string[] }
> = {
  clientCert: {
    title: "Choose the relay's client certificate",
    filter: 'Certificate (PEM)',
    extensions: ['pem', 'crt', 'cer'],
  },
  clientKey: {
    title: 'Choose the private key of the client certificate',
    filter: 'Private key (PEM)',
    extensions: ['pem', 'key'],
  },
  ca: {
    title: "Choose the CA certificate that signed the relay's certificate",
    filter: 'CA certificate (PEM)',
    extensions: ['pem', 'crt', 'cer'],
  },
};

function helperHint(): string {
  if (process.platform === 'darwin') return macosHelperHint();
  return process.platform === 'linux'
    ? 'Start it from here (an administrator password is needed), or run: sudo systemctl start phantommesh-helper'
    : 'Reinstall PhantomMesh to install it again.';
}

/** DOMAIN\user, as `net localgroup` takes it. */
function windowsUser(): string {
  const name = process.env.USERNAME ?? '';
  const domain = process.env.USERDOMAIN;
  return domain ? `${domain}\\${name}` : name;
}

export function electronPlatform(options: ElectronPlatformOptions): Platform {
  const parent = () => options.window() ?? undefined;
  const windows = process.platform === 'win32' ? windowsPlatformParts(options.windows, windowsUser()) : null;
  const hint = windows ? '' : helperHint();
  return {
    canFixHelper: process.platform === 'linux',
    get helperHint() {
      return windows ? windows.helperHint : hint;
    },
    ...(windows
      ? { unauthorizedMessage: windows.unauthorizedMessage!, openHelper: windows.openHelper! }
      : {}),
    fixHelper: () => fixHelper(),
    async chooseConfigFile() {
      const dialogOptions: Electron.OpenDialogOptions = {
        title: 'Import a WireGuard configuration',
        properties: ['openFile'],
        filters: [
          { name: 'WireGuard configuration', extensions: ['conf'] },
          { name: 'All files', extensions: ['*'] },
        ],
      };
      const window = parent();
      const result = window
        ? await dialog.showOpenDialog(window, dialogOptions)
        : await dialog.showOpenDialog(dialogOptions);
      return result.canceled ? null : (result.filePaths[0] ?? null);
    },
    async chooseTransportFile(kind) {
      const { title, filter, extensions } = TRANSPORT_FILE_DIALOG[kind];
      const dialogOptions: Electron.OpenDialogOptions = {
        title,
        properties: ['openFile', 'showHiddenFiles'],
        filters: [
          { name: filter, extensions },
          { name: 'All files', extensions: ['*'] },
        ],
      };
      const window = parent();
      const result = window
        ? await dialog.showOpenDialog(window, dialogOptions)
        : await dialog.showOpenDialog(dialogOptions);
      return result.canceled ? null : (result.filePaths[0] ?? null);
    },
    async saveText(name, text, { secret = false } = {}) {
      const dialogOptions: Electron.SaveDialogOptions = { defaultPath: join(app.getPath('downloads'), name) };
      const window = parent();
      const result = window
        ? await dialog.showSaveDialog(window, dialogOptions)
        : await dialog.showSaveDialog(dialogOptions);
      if (result.canceled || !result.filePath) return null;
      await writeSaved(result.filePath, text, secret);
      return result.filePath;
    },
    async openExternal(url) {
      // The controller only passes LINKS; checked again here because this is the one door to the browser.
      if (!isAllowedLink(url)) throw new PhantomError('FORBIDDEN', `not one of the app's links: ${url}`);
      await shell.openExternal(url);
    },
    setStartAtLogin: (enabled) =>
      setStartAtLogin(enabled, {
        platform: process.platform,
        env: process.env,
        command: appCommand(),
        loginItems: app,
      }),
    notify(notification) {
      if (!Notification.isSupported()) return;
      const shown = new Notification({ title: notification.title, body: notification.body });
      shown.on('click', () => options.onNotificationClick(notification));
      shown.show();
    },
  };
}
