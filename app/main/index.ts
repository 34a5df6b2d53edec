// The Electron entry: one instance, a hardened session, the shared core (helper link, tunnels,
// settings, controller, notifications), the IPC, the window, the tray and the updater.

import { join } from 'node:path';
import { app, ipcMain, nativeTheme, session, shell, type BrowserWindow } from 'electron';
import { DEFAULT_SOCKET_PATH } from '../../shared/src/control/socket-path.ts';
import { registerAppScheme, serveApp } from './app-protocol.ts';
import { startCore } from './app-core.ts';
import { electronPlatform } from './electron-platform.ts';
import { registerIpc, sendEvent } from './ipc.ts';
import { appLayout } from './layout.ts';
import { HIDDEN_ARG } from './login-item.ts';
import { hardenSession } from './security.ts';
import { trayModel } from './tray-model.ts';
import { AppTray } from './tray.ts';
import { startUpdater, updateEnvironment, type Updater } from './updater.ts';
import { createMainWindow, showWindow } from './main-window.ts';

const log = (message: string) => console.log(`[main] ${message}`);

// Both only take effect before the app is ready.
registerAppScheme();
app.enableSandbox();

// A second launch hands over to the first (which shows its window) and ends.
if (!app.requestSingleInstanceLock()) app.quit();
else
  main().catch((error: unknown) => {
    console.error(error);
    app.exit(1);
  });

/** Started by the OS at login: stay in the tray. */
function startedHidden(): boolean {
  if (process.argv.includes(HIDDEN_ARG)) return true;
  return process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin;
}

async function main(): Promise<void> {
  await app.whenReady();
  const layout = appLayout(app.getAppPath(), process.resourcesPath, app.isPackaged);
  const allowDevTools = !app.isPackaged;
  hardenSession(session.defaultSession, { allowDevTools });
  serveApp(session.defaultSession, layout.rendererDir);

  let window: BrowserWindow | null = null;
  let updater: Updater | null = null;
  let updateReady: string | null = null;
  let quitting = false;
  const show = () => {
    if (window) showWindow(window);
  };

  // Windows: koffi, for the helper's pipe check, the service's state and the taskbar's theme. If it
  // cannot load, the app says so and does not talk to the pipe unchecked (electron-platform.ts).
  const windows =
    process.platform === 'win32'
      ? await import('./pipe-server-check_windows.ts')
          .then((module) => module.loadWindowsCalls())
          .catch((error: Error) => {
            log(`windows: cannot load the native calls: ${error.message}`);
            return error;
          })
      : undefined;
  const platform = electronPlatform({
    ...(windows ? { windows } : {}),
    window: () => window,
    onNotificationClick: (notification) => {
      show();
      if (notification.tunnel) core.controller.selectTunnel(notification.tunnel);
    },
  });
  const core = await startCore({
    // The demo points the app at the helper it started; the client still insists on a root-owned socket.
    socketPath: process.env.PHANTOMMESH_HELPER_SOCKET ?? DEFAULT_SOCKET_PATH,
    settingsPath: join(app.getPath('userData'), 'settings.json'),
    platform,
    version: app.getVersion(),
    emit: (event) => {
      sendEvent(window?.webContents ?? null, event);
      if (event.type === 'app-settings') nativeTheme.themeSource = event.settings.theme;
    },
    log,
  });
  nativeTheme.themeSource = core.settings.get().theme;
  registerIpc({ ipcMain, controller: core.controller, trustedContents: () => window?.webContents ?? null });

  window = createMainWindow({
    preloadPath: layout.preloadPath,
    allowDevTools,
    show: !startedHidden(),
    hideOnClose: () => !quitting && core.settings.get().closeToTray,
    openExternal: (url) => void shell.openExternal(url),
  });
  window.on('closed', () => (window = null));

  /** A tunnel toggled from the tray: its failure has no window to show it, so it is a notification. */
  const fromTray = async (method: 'tunnels.connect' | 'tunnels.disconnect', name: string) => {
    const reply = await core.controller.invoke(method, { name });
    if (!reply.ok)
      platform.notify({ title: `PhantomMesh: ${name}`, body: reply.error.message, tunnel: name });
  };
  const model = () =>
    trayModel({
      helper: core.link.status,
      tunnels: core.tracker.tunnels,
      statuses: core.tracker.statuses,
      updateReady,
    });
  const tray = new AppTray(
    layout.iconsDir,
    {
      open: show,
      quit: () => app.quit(),
      connect: (name) => void fromTray('tunnels.connect', name),
      disconnect: (name) => void fromTray('tunnels.disconnect', name),
      select: (name) => {
        show();
        core.controller.selectTunnel(name);
      },
      restartToUpdate: () => updater?.restartToUpdate(),
    },
    model(),
    windows && !(windows instanceof Error) ? { taskbarIsLight: () => windows.taskbarIsLight() } : {},
  );
  // Windows: the taskbar's light or dark mode changed (Chromium watches the Personalize key).
  if (process.platform === 'win32') nativeTheme.on('updated', () => tray.refreshTheme());
  const refreshTray = () => tray.update(model());
  core.link.onStatus(refreshTray);
  core.tracker.onChange(refreshTray);

  app.on('second-instance', show);
  app.on('activate', show);
  app.on('before-quit', () => (quitting = true));
  // Reached only when closeToTray is off (otherwise closing hides the window).
  app.on('window-all-closed', () => app.quit());
  app.on('will-quit', () => {
    core.stop();
    tray.destroy();
  });

  // An updater that cannot start is logged, never a reason for the VPN client to stop.
  updater = await startUpdater({
    environment: updateEnvironment(process.resourcesPath, app.isPackaged),
    onReady: (version) => {
      updateReady = version;
      refreshTray();
      platform.notify({
        title: 'PhantomMesh update ready',
        body: `Version ${version} is downloaded: choose "Restart to update" in the tray menu.`,
      });
    },
    log,
  }).catch((error: Error) => {
    log(`updates: could not start: ${error.message}`);
    return null;
  });
}
