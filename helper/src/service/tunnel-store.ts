// The helper's tunnel store: one wg-quick file NAME.conf per tunnel, 0600 and root's, in a directory
// only root can enter. It keeps text only; parsing and validating it is the caller's job.

import { INTERFACE_NAME_RULE, isInterfaceName } from '../../../shared/src/interface-name.ts';
import { constants } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PhantomError } from '../../../shared/src/errors.ts';
import { isAtomicTemp, syncDirectory, writeFileAtomic } from '../../../shared/src/atomic-file.ts';
import { parseConfig } from '../../../shared/src/config/parse.ts';
import { serializeConfig } from '../../../shared/src/config/serialize.ts';

const SUFFIX = '.conf';
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export interface TunnelStoreOptions {
  /** Told about what opening the store repaired or skipped. */
  log?: (line: string) => void;
}

/** wg-quick's rule for interface names, which also keeps every name inside the store directory. */
export const isTunnelName = isInterfaceName;

export function checkTunnelName(name: string): void {
  if (!isTunnelName(name)) {
    throw new PhantomError(
      'TUNNEL_NAME_INVALID',
      `${JSON.stringify(name)} is not a valid tunnel name: it names the network interface, so it must be ` +
        `${INTERFACE_NAME_RULE}, and not "." or ".."`,
    );
  }
}

const notFound = (name: string) => new PhantomError('TUNNEL_NOT_FOUND', `there is no tunnel named ${name}`);
const insecure = (dir: string, problem: string) =>
  new PhantomError('TUNNEL_STORE_INSECURE', `refusing to use the tunnel store ${dir}: ${problem}`);
const codeOf = (error: unknown) => (error as NodeJS.ErrnoException).code;
const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

export class TunnelStore {
  readonly dir: string;
  // The store's files belong to root:root even though the service runs with group phantommesh (the
  // unit's Group=, for its control socket). Tests that run without root get their own user.
  readonly #owner: { uid: number; gid: number } | null;

  private constructor(dir: string, owner: { uid: number; gid: number } | null) {
    this.dir = dir;
    this.#owner = owner;
  }

  /**
   * Opens the store at `dir`, creating it 0700. Refuses a directory that someone other than the
   * helper's user owns or could write, since whoever writes it chooses the tunnels root runs; narrows
   * looser modes of the directory and its files, and removes what an interrupted write left.
   */
  static async open(dir: string, options: TunnelStoreOptions = {}): Promise<TunnelStore> {
    const log = options.log ?? (() => undefined);
    if (process.platform === 'win32') {
      // No owners or modes to check: the state directory's DACL (SYSTEM and Administrators only,
      // service/paths_windows.ts) is inherited by everything below it.
      await mkdir(dir, { recursive: true });
      if (!(await lstat(dir)).isDirectory()) throw insecure(dir, 'it is not a directory');
      const store = new TunnelStore(dir, null);
      await store.#repair(log);
      return store;
    }
    const uid = process.geteuid!();
    const owner = { uid, gid: uid === 0 ? 0 : process.getegid!() };
    const ownerName = uid === 0 ? 'root' : `uid ${uid}`;

    const created = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    if (created !== undefined) await chown(dir, owner.uid, owner.gid);
    const info = await lstat(dir);
    if (!info.isDirectory()) throw insecure(dir, 'it is not a directory (symbolic links are not followed)');
    if (info.uid !== uid) throw insecure(dir, `it is owned by uid ${info.uid}, not ${ownerName}`);
    if (info.mode & 0o022)
      throw insecure(dir, `its group or others may write it (mode ${octal(info.mode)}); it must be 0700`);
    if ((info.mode & 0o777) !== DIR_MODE) {
      await chmod(dir, DIR_MODE);
      if (created === undefined) log(`tunnel store ${dir}: mode ${octal(info.mode)} narrowed to 0700`);
    }

    const store = new TunnelStore(dir, owner);
    await store.#repair(log);
    return store;
  }

  async #repair(log: (line: string) => void): Promise<void> {
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      const path = join(this.dir, entry.name);
      if (isAtomicTemp(entry.name)) {
        await unlink(path);
        log(`tunnel store: removed ${entry.name}, left by an interrupted write`);
        continue;
      }
      if (!entry.name.endsWith(SUFFIX)) continue;
      if (!isTunnelName(entry.name.slice(0, -SUFFIX.length))) {
        log(`tunnel store: ignoring ${entry.name}: not a valid tunnel name`);
        continue;
      }
      if (!entry.isFile()) {
        log(`tunnel store: ignoring ${entry.name}: not a regular file`);
        continue;
      }
      const info = await lstat(path);
      // Windows (no owner): the directory's inherited DACL protects the files.
      if (!this.#owner) {
        await this.#canonicalize(entry.name.slice(0, -SUFFIX.length), log);
        continue;
      }
      if (info.uid !== this.#owner.uid || info.gid !== this.#owner.gid) {
        await chown(path, this.#owner.uid, this.#owner.gid);
        log(`tunnel store: ${entry.name} was owned by ${info.uid}:${info.gid}; given to the helper's user`);
      }
      if ((info.mode & 0o7777) !== FILE_MODE) {
        await chmod(path, FILE_MODE);
        log(`tunnel store: ${entry.name} had mode ${octal(info.mode)}; set to 0600 (it holds private keys)`);
      }
      await this.#canonicalize(entry.name.slice(0, -SUFFIX.length), log);
    }
  }

  /**
   * Rewrites a stored file in the one form the helper writes (LF endings, `Key = value`), so that
   * what reads it later meets only that form. A file that does not parse is left as it is, and said.
   */
  async #canonicalize(name: string, log: (line: string) => void): Promise<void> {
    const text = await this.read(name);
    let canonical: string;
    try {
      canonical = serializeConfig(parseConfig(text));
    } catch (error) {
      log(`tunnel store: ${name}${SUFFIX} does not parse (${(error as Error).message}); left as it is`);
      return;
    }
    if (canonical === text) return;
    await this.write(name, canonical);
    log(`tunnel store: ${name}${SUFFIX} rewritten in canonical form`);
  }

  #path(name: string): string {
    checkTunnelName(name);
    return join(this.dir, name + SUFFIX);
  }

  /** The tunnels' names, sorted. */
  async list(): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile() && entry.name.endsWith(SUFFIX))
      .map((entry) => entry.name.slice(0, -SUFFIX.length))
      .filter(isTunnelName)
      .sort();
  }

  async read(name: string): Promise<string> {
    const path = this.#path(name);
    let file;
    try {
      // O_NOFOLLOW: the store reads its own files, never what a symbolic link points to.
      file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (codeOf(error) === 'ENOENT' || codeOf(error) === 'ELOOP') throw notFound(name);
      throw error;
    }
    try {
      if (!(await file.stat()).isFile()) throw notFound(name);
      return await file.readFile('utf8');
    } finally {
      await file.close();
    }
  }

  /** Creates or replaces the tunnel's file, atomically. */
  async write(name: string, text: string): Promise<void> {
    await writeFileAtomic(this.#path(name), text, { mode: FILE_MODE, ...(this.#owner ?? {}) });
  }

  async exists(name: string): Promise<boolean> {
    try {
      return (await lstat(this.#path(name))).isFile();
    } catch (error) {
      if (codeOf(error) === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Renames a tunnel, refusing to replace another. link() fails atomically when `to` exists, where a
   * check followed by rename() could clobber a file written in between; a crash between link and
   * unlink leaves the tunnel under both names, never under neither.
   */
  async rename(from: string, to: string): Promise<void> {
    const source = this.#path(from);
    const target = this.#path(to);
    if (!(await this.exists(from))) throw notFound(from);
    try {
      await link(source, target);
    } catch (error) {
      if (codeOf(error) === 'EEXIST')
        throw new PhantomError('TUNNEL_EXISTS', `a tunnel named ${to} already exists`);
      if (codeOf(error) === 'ENOENT') throw notFound(from);
      throw error;
    }
    await unlink(source);
    await syncDirectory(this.dir);
  }

  async delete(name: string): Promise<void> {
    const path = this.#path(name);
    if (!(await this.exists(name))) throw notFound(name);
    try {
      await unlink(path);
    } catch (error) {
      if (codeOf(error) === 'ENOENT') throw notFound(name);
      throw error;
    }
    await syncDirectory(this.dir);
  }
}
