// The helper's own settings, in settings.json in its state directory. A missing file means the
// defaults; a corrupt one is kept aside for inspection and the defaults are used: the helper must
// start whatever is on disk.

import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Settings } from '../../../shared/src/control/protocol.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { writeFileAtomic } from '../../../shared/src/atomic-file.ts';

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  killSwitch: false,
  allowLan: false,
  autoConnect: null,
  metricsPort: null,
  lockdown: false,
});

export interface SettingsStoreOptions {
  /** Told when the file could not be used and the defaults were taken instead. */
  log?: (line: string) => void;
}

const invalid = (problem: string) => new PhantomError('SETTINGS_INVALID', `invalid settings: ${problem}`);

/**
 * The settings in `value`, checked against the control API's schema, with defaults for missing keys
 * (a file from an older version lacks the newer ones); unknown keys are dropped.
 */
function settingsFrom(value: unknown): Settings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('not a JSON object');
  const result = Settings.safeParse({ ...DEFAULT_SETTINGS, ...value });
  if (result.success) return result.data;
  throw invalid(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
}

export class SettingsStore {
  readonly path: string;
  #settings: Settings;
  // Updates are written one after the other, so the file always ends with the last one.
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, settings: Settings) {
    this.path = path;
    this.#settings = settings;
  }

  static async open(stateDir: string, options: SettingsStoreOptions = {}): Promise<SettingsStore> {
    const log = options.log ?? (() => undefined);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, 'settings.json');
    return new SettingsStore(path, await load(path, log));
  }

  /** A copy of the current settings. */
  get(): Settings {
    return { ...this.#settings };
  }

  /** Applies `changes`, writes the result and returns it; invalid values throw SETTINGS_INVALID. */
  update(changes: Partial<Settings>): Promise<Settings> {
    const result = this.#queue.then(async () => {
      const next = settingsFrom({ ...this.#settings, ...changes });
      await writeFileAtomic(this.path, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
      this.#settings = next;
      return { ...next };
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }
}

async function load(path: string, log: (line: string) => void): Promise<Settings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      log(`cannot read ${path} (${(error as Error).message}); using the default settings`);
    return { ...DEFAULT_SETTINGS };
  }
  try {
    return settingsFrom(JSON.parse(text));
  } catch (error) {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(path, aside);
      log(`${path} is unusable (${(error as Error).message}); kept as ${aside}, using the default settings`);
    } catch (renameError) {
      log(
        `${path} is unusable (${(error as Error).message}) and could not be kept aside ` +
          `(${(renameError as Error).message}); using the default settings`,
      );
    }
    return { ...DEFAULT_SETTINGS };
  }
}
