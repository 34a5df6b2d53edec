// Updates through electron-updater where it is the right tool: NSIS on Windows (it checks the
// installer's Authenticode signature against the publisher in app-update.yml) and macOS (Squirrel.Mac
// checks the new bundle against the running app's code signature). Those checks stay on: this file
// never sets verifyUpdateCodeSignature. Off in development, and off for the Linux deb/rpm: there
// updates come from the distribution's package manager and a signed APT/YUM repository, which also
// updates the root helper in the same transaction, whereas electron-updater's DebUpdater/RpmUpdater
// would run dpkg/rpm as root on a file checked only against a hash served next to it.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type UpdatePolicy = { enabled: true } | { enabled: false; reason: string };

export interface UpdateEnvironment {
  isPackaged: boolean;
  platform: NodeJS.Platform;
  /** resources/package-type, which electron-builder writes for deb, rpm and pacman; null without it. */
  packageType: string | null;
  /** Running from an AppImage ($APPIMAGE), the one Linux format electron-updater replaces itself. */
  appImage: boolean;
  /** resources/app-update.yml exists: electron-builder was given a publish (update feed) config. */
  hasUpdateConfig: boolean;
}

export function updatePolicy(env: UpdateEnvironment): UpdatePolicy {
  if (!env.isPackaged) return { enabled: false, reason: 'a development build is not updated' };
  if (env.platform === 'linux' && (env.packageType !== null || !env.appImage))
    return { enabled: false, reason: 'installed by the package manager, which also brings its updates' };
  if (!env.hasUpdateConfig)
    return { enabled: false, reason: 'the build has no update feed (publish config)' };
  return { enabled: true };
}

export function updateEnvironment(resourcesPath: string, isPackaged: boolean): UpdateEnvironment {
  const packageTypeFile = join(resourcesPath, 'package-type');
  return {
    isPackaged,
    platform: process.platform,
    packageType: existsSync(packageTypeFile) ? readFileSync(packageTypeFile, 'utf8').trim() : null,
    appImage: Boolean(process.env.APPIMAGE),
    hasUpdateConfig: existsSync(join(resourcesPath, 'app-update.yml')),
  };
}

export interface Updater {
  /** Quits and installs the downloaded update. */
  restartToUpdate(): void;
}

const CHECK_EVERY_MS = 6 * 60 * 60 * 1000;

/**
 * Checks now and every 6 hours, downloads in the background, and calls `onReady` with the version
 * once an update is downloaded and verified, so the tray (and a notification) can offer
 * "Restart to update". Null when the policy says no.
 */
export async function startUpdater(options: {
  environment: UpdateEnvironment;
  onReady: (version: string) => void;
  log: (message: string) => void;
}): Promise<Updater | null> {
  const policy = updatePolicy(options.environment);
  if (!policy.enabled) {
    options.log(`updates: off (${policy.reason})`);
    return null;
  }
  // Loaded only here: it picks its platform updater when first used.
  const { autoUpdater } = (await import('electron-updater')).default;
  const log = (message: unknown) => options.log(`updates: ${String(message)}`);
  autoUpdater.logger = { info: log, warn: log, error: log, debug: () => {} };
  autoUpdater.autoDownload = true;
  autoUpdater.autoInstallOnAppQuit = true;
  autoUpdater.on('update-downloaded', (info) => options.onReady(info.version));
  autoUpdater.on('error', (error) => log(error.message));
  const check = () => {
    autoUpdater.checkForUpdates().catch((error: Error) => log(`check failed: ${error.message}`));
  };
  check();
  setInterval(check, CHECK_EVERY_MS);
  return { restartToUpdate: () => autoUpdater.quitAndInstall() };
}
