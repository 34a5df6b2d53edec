// A file's exact state (its bytes, mode and owner, or where it linked, or its absence), taken before
// the journal replaces it (/etc/resolv.conf) and put back byte for byte. Linux, for the mount-point
// check (/proc/self/mountinfo). Moved here from journal.ts; the interop tests compare files with it.

import { lstat, readFile, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from '../../../shared/src/zod.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { syncDirectory, temporaryPathFor, writeFileAtomic } from '../../../shared/src/atomic-file.ts';

/** A file's exact state, to put it back byte for byte: its bytes, mode and owner, or where it linked. */
export const fileSnapshotSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('file'),
    base64: z.string(),
    // Read and write bits only: a journal never restores a set-id or executable file (a tampered one
    // asked root to make a 6755 file).
    mode: z.int().check(z.minimum(0), z.maximum(0o666)),
    uid: z.int(),
    gid: z.int(),
  }),
  z.object({ type: z.literal('symlink'), target: z.string().check(z.minLength(1)) }),
  z.object({ type: z.literal('absent') }),
]);

export type FileSnapshot = z.infer<typeof fileSnapshotSchema>;

export async function snapshotFile(path: string): Promise<FileSnapshot> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { type: 'absent' };
    throw error;
  }
  if (stats.isSymbolicLink()) return { type: 'symlink', target: await readlink(path) };
  if (!stats.isFile()) throw new PhantomError('NET_CONFIG_FAILED', `${path} is not a file`);
  return {
    type: 'file',
    base64: (await readFile(path)).toString('base64'),
    mode: stats.mode & 0o666,
    uid: stats.uid,
    gid: stats.gid,
  };
}

/** Whether `path` is a mount point itself (a bind-mounted /etc/resolv.conf in containers and under
 *  `ip netns exec`): renaming over it fails with EBUSY, so it is written in place. */
async function isMountPoint(path: string): Promise<boolean> {
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountInfo.split('\n').some((line) => {
    const mountPoint = line.split(' ')[4];
    return (
      mountPoint?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))) ===
      path
    );
  });
}

export async function writeFileContent(
  path: string,
  data: Uint8Array | string,
  original: FileSnapshot,
): Promise<void> {
  if (await isMountPoint(path)) return writeFile(path, data, { flush: true });
  const owner = original.type === 'file' ? { mode: original.mode, uid: original.uid, gid: original.gid } : {};
  await writeFileAtomic(path, data, { mode: 0o644, ...owner });
}

export async function restoreFile(path: string, original: FileSnapshot): Promise<void> {
  switch (original.type) {
    case 'file':
      return writeFileContent(path, Buffer.from(original.base64, 'base64'), original);
    case 'absent':
      return unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    case 'symlink': {
      // A new link renamed over the file: the name is never missing.
      const temp = temporaryPathFor(path);
      await symlink(original.target, temp);
      try {
        await rename(temp, path);
      } catch (error) {
        await unlink(temp).catch(() => undefined);
        throw error;
      }
      return syncDirectory(dirname(path));
    }
  }
}

/** File operations fail with Node's errors; the helper reports PhantomErrors. */
export async function onFile<T>(path: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (error instanceof PhantomError) throw error;
    throw new PhantomError('NET_CONFIG_FAILED', `${path}: ${(error as Error).message}`);
  }
}
