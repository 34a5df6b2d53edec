// Whole-file replacement for the app's small per-user files (settings, the XDG autostart entry): a
// reader, or the app after a crash or power loss, sees the old file or the new one, never half of one.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes through `.NAME.<random>.tmp` beside the target, synced, then renamed over it. */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const dir = dirname(path);
  // 0700 is what the XDG spec asks of a config directory the app has to create.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // O_EXCL: never write into a file someone else placed there.
    const file = await open(temp, 'wx', mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // The rename itself must survive a power loss too.
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
