// Crash-safe file replacement: a reader, or the helper after a crash or power loss, sees the old file
// or the new one, never a partial one.

import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PhantomError } from './errors.ts';

export interface AtomicWriteOptions {
  /** The final permission bits; 0600 unless given. */
  mode?: number;
  /** The owner to give the file (needs root, or CAP_CHOWN); left to the creating process if absent. */
  uid?: number;
  gid?: number;
}

/** Temporary files are `.NAME.<random>.tmp` beside their target, so a crash can leave one behind. */
export function isAtomicTemp(fileName: string): boolean {
  return /^\..+\.[0-9a-f]{12}\.tmp$/.test(fileName);
}

/** A new name for a temporary file beside `path`, for isAtomicTemp to recognise. */
export function temporaryPathFor(path: string): string {
  // Unique, not secret: open(..., 'wx') refuses a name someone placed there first. Not node:crypto,
  // which would cost the helper ~1.8 MB of RSS for a file name (docs/performance.md).
  const random = Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, '0');
  return join(dirname(path), `.${basename(path)}.${random}.tmp`);
}

/**
 * Writes `data` to `path` through a temporary file in the same directory that is synced, then renamed
 * over the target; the directory is synced too, so the rename itself survives a power loss.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const dir = dirname(path);
  const temp = temporaryPathFor(path);
  try {
    // O_EXCL: never reuse a file someone else placed there. Created with the final mode, so it is
    // never more open than the result; umask can only narrow it, and the chmod below restores it.
    const file = await open(temp, 'wx', mode);
    try {
      if (options.uid !== undefined || options.gid !== undefined)
        await file.chown(options.uid ?? -1, options.gid ?? -1);
      // After chown, which clears set-id bits.
      await file.chmod(mode);
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    await syncDirectory(dir);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new PhantomError('FILE_WRITE_FAILED', `cannot write ${path}: ${(error as Error).message}`);
  }
}

/** Makes the directory's entries (a rename, a new or removed name) durable. */
export async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open a directory as a file, and NTFS journals its directory entries itself.
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
