// Start at login. macOS and Windows have an OS API that Electron wraps (app.setLoginItemSettings);
// Linux desktops follow the XDG autostart spec: a .desktop file in ~/.config/autostart. Like Mullvad's
// autostart.ts, the app starts hidden there, in the tray.

import { mkdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { NotSupportedError } from '../../shared/src/errors.ts';
import { writeFileAtomic } from '../../shared/src/atomic-file.ts';

/** Passed when the OS starts the app at login: the app starts in the tray, without its window. */
export const HIDDEN_ARG = '--hidden';
/**
 * The packaged app's executable, .desktop id and icon name on Linux (electron-builder.yml's
 * linux.executableName). Not "phantommesh": that is the helper package's CLI.
 */
export const EXECUTABLE_NAME = 'phantommesh-desktop';
/** Named like the app's own entry in /usr/share/applications, so desktops see them as one app. */
export const AUTOSTART_FILE = `${EXECUTABLE_NAME}.desktop`;
/** What development builds wrote before the executable had its own name; removed when seen. */
const OLD_AUTOSTART_FILES = ['phantommesh.desktop'];

/** The Electron call this module needs (a type, so this module runs in plain Node). */
export interface LoginItems {
  setLoginItemSettings(settings: { openAtLogin: boolean; path?: string; args?: string[] }): void;
}

/** $XDG_CONFIG_HOME/autostart, or ~/.config/autostart when XDG_CONFIG_HOME is unset or relative. */
function autostartDir(env: NodeJS.ProcessEnv): string {
  const configured = env.XDG_CONFIG_HOME;
  const configHome =
    configured && isAbsolute(configured) ? configured : join(env.HOME || homedir(), '.config');
  return join(configHome, 'autostart');
}

/** $XDG_CONFIG_HOME/autostart/phantommesh-desktop.desktop (~/.config when XDG_CONFIG_HOME is unset or relative). */
export function autostartPath(env: NodeJS.ProcessEnv): string {
  return join(autostartDir(env), AUTOSTART_FILE);
}

/**
 * One argument of an Exec line (Desktop Entry Specification, "The Exec key"): quoted when it holds
 * anything but plain characters, with `"`, `` ` ``, `$` and `\` escaped inside the quotes; `%` doubled
 * because it starts field codes. The string-value escaping of the whole line happens in desktopEntry.
 */
function execArgument(arg: string): string {
  const escaped = arg.replace(/%/g, '%%');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/["`$\\]/g, '\\$&')}"`;
}

/** The autostart entry that runs `command` (the app's executable and its arguments). */
export function desktopEntry(command: readonly string[]): string {
  // Backslashes are escaped a second time: a .desktop string value un-escapes "\\" before the Exec
  // line is split into arguments.
  const exec = command.map(execArgument).join(' ').replace(/\\/g, '\\\\');
  if (/[\n\r]/.test(exec)) throw new Error('a command for an autostart entry cannot contain a line break');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=PhantomMesh',
    'Comment=WireGuard VPN client',
    `Exec=${exec}`,
    `Icon=${EXECUTABLE_NAME}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** Writes or removes the XDG autostart entry. */
export async function setXdgAutostart(
  enabled: boolean,
  env: NodeJS.ProcessEnv,
  command: readonly string[],
): Promise<void> {
  const path = autostartPath(env);
  for (const old of OLD_AUTOSTART_FILES) await rm(join(autostartDir(env), old), { force: true });
  if (enabled) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFileAtomic(path, desktopEntry(command), { mode: 0o644 });
  } else await rm(path, { force: true });
}

export interface LoginItemTarget {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** The app's executable and its arguments, without HIDDEN_ARG (added here). */
  command: readonly string[];
  loginItems: LoginItems;
}

export async function setStartAtLogin(enabled: boolean, target: LoginItemTarget): Promise<void> {
  switch (target.platform) {
    case 'linux':
      return setXdgAutostart(enabled, target.env, [...target.command, HIDDEN_ARG]);
    case 'darwin':
      // macOS has no arguments for login items (index.ts asks
      // app.getLoginItemSettings().wasOpenedAtLogin there instead).
      target.loginItems.setLoginItemSettings({ openAtLogin: enabled, args: [HIDDEN_ARG] });
      return;
    case 'win32': {
      // Electron writes HKCU\Software\Microsoft\Windows\CurrentVersion\Run: the command given in
      // full (packaged, the app's executable; in development electron.exe and the app's folder) and
      // HIDDEN_ARG, which reaches the app's argv at login. Turning it off passes the same path and
      // arguments, which Electron uses to find the value it wrote.
      const [path, ...args] = target.command;
      if (!path) throw new Error('no command to start the app at login');
      target.loginItems.setLoginItemSettings({ openAtLogin: enabled, path, args: [...args, HIDDEN_ARG] });
      return;
    }
    default:
      throw new NotSupportedError('Starting at login', target.platform);
  }
}
