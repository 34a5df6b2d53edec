// The app's own settings (AppSettings in the IPC schema), kept per user as JSON. The helper's settings
// are system-wide and live in the helper; these are only about this user's desktop app.

import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppSettings } from '../../shared/src/ipc/schema.ts';
import { writeFileAtomic } from '../../shared/src/atomic-file.ts';

export const DEFAULT_APP_SETTINGS: AppSettings = Object.freeze({
  startAtLogin: false,
  connectOnLaunch: null,
  // A VPN client usually keeps running (and its tunnels visible) after its window is closed.
  closeToTray: true,
  theme: 'system',
});

/**
 * Reads the settings file. A missing file means defaults; a file that is not JSON or does not fit the
 * schema also means defaults (with `problem` saying why) rather than an app that cannot start. A file
 * from an older version that lacks a newer setting keeps what it has and gets the default for the rest.
 */
export async function loadAppSettings(path: string): Promise<{ settings: AppSettings; problem?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { settings: { ...DEFAULT_APP_SETTINGS } };
    throw error;
  }
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return { settings: { ...DEFAULT_APP_SETTINGS }, problem: `${path} is not JSON; using the defaults` };
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored))
    return { settings: { ...DEFAULT_APP_SETTINGS }, problem: `${path} is not an object; using the defaults` };
  const parsed = AppSettings.safeParse({ ...DEFAULT_APP_SETTINGS, ...stored });
  if (!parsed.success)
    return {
      settings: { ...DEFAULT_APP_SETTINGS },
      problem: `${path} does not hold valid settings; using the defaults`,
    };
  return { settings: parsed.data };
}

export class AppSettingsStore {
  private readonly path: string;
  private current: AppSettings;
  /** Updates run one after another, so the file always ends with the latest settings. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(path: string, settings: AppSettings) {
    this.path = path;
    this.current = settings;
  }

  /** `log` hears about a corrupt file that was replaced by the defaults. */
  static async open(path: string, log: (message: string) => void): Promise<AppSettingsStore> {
    const { settings, problem } = await loadAppSettings(path);
    if (problem) log(problem);
    return new AppSettingsStore(path, settings);
  }

  get(): AppSettings {
    return { ...this.current };
  }

  /** Applies `changes` (already validated against the schema) and saves them. */
  async update(changes: Partial<AppSettings>): Promise<AppSettings> {
    // Each update starts from what the one before it saved, so concurrent updates all survive.
    const saved = this.writing.then(async () => {
      const next = AppSettings.parse({ ...this.current, ...changes });
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
      this.current = next;
      return next;
    });
    // A failed write must not block the ones after it; this caller still sees the failure.
    this.writing = saved.then(
      () => {},
      () => {},
    );
    return { ...(await saved) };
  }
}
