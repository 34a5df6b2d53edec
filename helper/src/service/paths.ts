// Where the helper service keeps its state, per OS: paths_linux.ts. The control socket's path and
// group are the clients' business too: shared/src/control/socket-path.ts.

import { lstat, mkdir } from 'node:fs/promises';
import { PhantomError } from '../../../shared/src/errors.ts';
import { forPlatform } from '../for-platform.ts';
import { STATE_DIR_DARWIN } from './paths_darwin.ts';
import { STATE_DIR_LINUX } from './paths_linux.ts';
import { checkStateDirWindows, STATE_DIR_WINDOWS } from './paths_windows.ts';

/** The helper's state directory (stored tunnels, settings, the network journal). */
export function defaultStateDir(): string {
  return forPlatform('A state directory for the helper', {
    linux: STATE_DIR_LINUX,
    darwin: STATE_DIR_DARWIN,
    win32: STATE_DIR_WINDOWS,
  });
}

/**
 * Refuses a state directory anyone but root could have written: the helper trusts what is in it (the
 * crash journal, the tunnels) as its own. Made 0700 when missing; never followed through a link.
 */
export async function checkStateDir(dir: string): Promise<void> {
  // Windows has no modes to check: paths_windows.ts sets the directory's owner and DACL instead.
  if (process.platform === 'win32') return checkStateDirWindows(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  const problem = !info.isDirectory()
    ? 'it is not a directory (symbolic links are not followed)'
    : info.uid !== 0
      ? `it is owned by uid ${info.uid}, not root`
      : info.mode & 0o022
        ? `its group or others may write it (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')})`
        : null;
  if (problem)
    throw new PhantomError('STATE_DIR_INSECURE', `the state directory ${dir} cannot be trusted: ${problem}`);
}
