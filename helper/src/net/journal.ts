// The crash-safety journal of the helper's network changes. Every change to routes, policy rules,
// sysctls, firewall tables and DNS is written to disk, with what undoing it needs, BEFORE it is made,
// and leaves the journal once it is undone. A helper that crashed, was killed or lost power leaves
// its journal behind; recover() at the next start undoes what it lists, newest first, except a kill
// switch that was on: that stays (fail closed) until the user turns it off. The journal owns how
// each kind of change is made and undone, so recovery needs nothing but the file.

import { isInterfaceName } from '../../../shared/src/interface-name.ts';
import { lstat, mkdir, readFile, readlink, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { NotSupportedError, PhantomError } from '../../../shared/src/errors.ts';
import { parseIp, parsePrefix } from '../../../shared/src/ip.ts';
import { syncDirectory, writeFileAtomic } from '../../../shared/src/atomic-file.ts';
import { DEFAULT_STATE_DIR } from '../service/paths.ts';
import {
  addResolvconfRecord,
  addRoute,
  addRule,
  applyNftRuleset,
  deleteNftTableIfPresent,
  deleteResolvconfRecord,
  deleteRouteIfPresent,
  deleteRuleIfPresent,
  readSysctl,
  revertLinkDns,
  setLinkDns,
  writeSysctl,
} from './linux.ts';

export const DEFAULT_JOURNAL_PATH = join(DEFAULT_STATE_DIR, 'network-journal.json');

// ---------------------------------------------------------------------------------------------
// The records: plain JSON, validated when read back.

const ifname = z.string().refine(isInterfaceName, 'not an interface name');
const family = z.union([z.literal(4), z.literal(6)]);
const u32 = z.number().int().min(1).max(0xffffffff);
const address = z.string().refine((text) => parseIp(text) !== null, 'not an IP address');
const prefix = z.string().refine((text) => text.includes('/') && parsePrefix(text) !== null, 'not a prefix');
const nftName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/);

/** A file's exact state, to put it back byte for byte: its bytes, mode and owner, or where it linked. */
const fileSnapshot = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('file'),
    base64: z.string(),
    mode: z.number().int(),
    uid: z.number().int(),
    gid: z.number().int(),
  }),
  z.object({ type: z.literal('symlink'), target: z.string().min(1) }),
  z.object({ type: z.literal('absent') }),
]);

const changeSchema = z.discriminatedUnion('kind', [
  /** `ip route add DESTINATION dev IFNAME table TABLE` */
  z.object({ kind: z.literal('route'), ifname, family, destination: prefix, table: u32 }),
  /** `ip rule add not fwmark FWMARK table TABLE` */
  z.object({ kind: z.literal('fwmark-rule'), ifname, family, fwmark: u32, table: u32 }),
  /** `ip rule add table main suppress_prefixlength 0` */
  z.object({ kind: z.literal('suppress-rule'), ifname, family }),
  /** A sysctl set to `value`; `original` is what it was before the first of our changes to it. */
  z.object({
    kind: z.literal('sysctl'),
    ifname,
    key: z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/),
    value: z.string(),
    original: z.string(),
  }),
  /** An nft table of an interface (`table inet NAME`), loaded from `ruleset` in one transaction. */
  z.object({ kind: z.literal('nft-table'), ifname, name: nftName, ruleset: z.string() }),
  /** The kill switch's nft table: kept by recover(), so it fails closed. */
  z.object({ kind: z.literal('kill-switch'), table: nftName, ruleset: z.string() }),
  /** systemd-resolved's per-link DNS (`resolvectl dns/domain/default-route`). */
  z.object({
    kind: z.literal('resolved-link'),
    ifname,
    servers: z.array(address),
    search: z.array(z.string()),
  }),
  /** A resolvconf record (`resolvconf -a RECORD`) with a resolv.conf-format `content`. */
  z.object({
    kind: z.literal('resolvconf'),
    ifname,
    record: z.string().refine((record) => isInterfaceName(record.replace(/^[A-Za-z0-9-]+\./, ''))),
    content: z.string(),
  }),
  /** A file replaced by `content`; `original` is how it was before the first of our changes to it. */
  z.object({
    kind: z.literal('file'),
    ifname,
    path: z.string().startsWith('/'),
    content: z.string(),
    original: fileSnapshot,
  }),
]);

const journalSchema = z.object({ version: z.literal(1), changes: z.array(changeSchema) });

export type NetworkChange = z.infer<typeof changeSchema>;
export type FileSnapshot = z.infer<typeof fileSnapshot>;

/** A change as callers ask for it: the journal itself captures the `original` of sysctls and files. */
export type ChangeRequest = NetworkChange extends infer C
  ? C extends { original: unknown }
    ? Omit<C, 'original'>
    : C
  : never;

export interface RecoveryReport {
  /** A kill switch was on: it stays, and is loaded again in case a reboot removed it. */
  killSwitchKept: boolean;
  /** How many changes were undone. */
  undone: number;
  /** What could not be undone; those changes stay in the journal for the next attempt. */
  failures: string[];
}

// ---------------------------------------------------------------------------------------------
// How each kind is made and undone.

const fwmarkSelector = (fwmark: number, table: number): string[] => [
  'not',
  'fwmark',
  String(fwmark),
  'table',
  String(table),
];
const SUPPRESS_SELECTOR = ['table', 'main', 'suppress_prefixlength', '0'];

/** Sysctls and files are shared by every tunnel: each change of one stacks on the others. */
function sameTarget(a: NetworkChange, b: NetworkChange): boolean {
  if (a.kind === 'sysctl' && b.kind === 'sysctl') return a.key === b.key;
  if (a.kind === 'file' && b.kind === 'file') return a.path === b.path;
  return false;
}

/** A change that takes the place of an earlier one (an update), instead of adding to it. */
function replaces(next: NetworkChange, old: NetworkChange): boolean {
  if (next.kind !== old.kind) return false;
  switch (next.kind) {
    case 'kill-switch':
      return true;
    case 'nft-table':
      return next.name === (old as typeof next).name;
    case 'sysctl':
    case 'file':
      return sameTarget(next, old) && next.ifname === (old as typeof next).ifname;
    case 'resolved-link':
    case 'resolvconf':
      return next.ifname === (old as typeof next).ifname;
    default:
      return false;
  }
}

async function snapshotFile(path: string): Promise<FileSnapshot> {
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
    mode: stats.mode & 0o7777,
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

async function writeFileContent(
  path: string,
  data: Uint8Array | string,
  original: FileSnapshot,
): Promise<void> {
  if (await isMountPoint(path)) return writeFile(path, data, { flush: true });
  const owner = original.type === 'file' ? { mode: original.mode, uid: original.uid, gid: original.gid } : {};
  await writeFileAtomic(path, data, { mode: 0o644, ...owner });
}

async function restoreFile(path: string, original: FileSnapshot): Promise<void> {
  switch (original.type) {
    case 'file':
      return writeFileContent(path, Buffer.from(original.base64, 'base64'), original);
    case 'absent':
      return unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    case 'symlink': {
      // A new link renamed over the file: the name is never missing.
      const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
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
async function onFile<T>(path: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (error instanceof PhantomError) throw error;
    throw new PhantomError('NET_CONFIG_FAILED', `${path}: ${(error as Error).message}`);
  }
}

function perform(change: NetworkChange): Promise<void> {
  switch (change.kind) {
    case 'route':
      return addRoute(change.ifname, parsePrefix(change.destination)!, String(change.table));
    case 'fwmark-rule':
      return addRule(change.family, fwmarkSelector(change.fwmark, change.table));
    case 'suppress-rule':
      return addRule(change.family, SUPPRESS_SELECTOR);
    case 'sysctl':
      return writeSysctl(change.key, change.value);
    case 'nft-table':
    case 'kill-switch':
      return applyNftRuleset(change.ruleset);
    case 'resolved-link':
      return setLinkDns(change.ifname, change.servers, change.search);
    case 'resolvconf':
      return addResolvconfRecord(change.record, change.content);
    case 'file':
      return onFile(change.path, () => writeFileContent(change.path, change.content, change.original));
  }
}

/** Undoes `change`; what is already gone counts as undone. `others` are the changes that stay: a
 *  shared sysctl or file gets the newest of theirs back, and its original only when none is left. */
async function revert(change: NetworkChange, others: NetworkChange[]): Promise<void> {
  switch (change.kind) {
    case 'route':
      await deleteRouteIfPresent(change.ifname, parsePrefix(change.destination)!, String(change.table));
      return;
    case 'fwmark-rule':
      await deleteRuleIfPresent(change.family, fwmarkSelector(change.fwmark, change.table));
      return;
    case 'suppress-rule':
      await deleteRuleIfPresent(change.family, SUPPRESS_SELECTOR);
      return;
    case 'nft-table':
      await deleteNftTableIfPresent('inet', change.name);
      return;
    case 'kill-switch':
      await deleteNftTableIfPresent('inet', change.table);
      return;
    case 'resolved-link':
      return revertLinkDns(change.ifname);
    case 'resolvconf':
      return deleteResolvconfRecord(change.record);
    case 'sysctl': {
      const newest = others.findLast((other) => sameTarget(other, change)) as typeof change | undefined;
      return writeSysctl(change.key, newest ? newest.value : change.original);
    }
    case 'file': {
      const newest = others.findLast((other) => sameTarget(other, change)) as typeof change | undefined;
      return onFile(change.path, () =>
        newest
          ? writeFileContent(change.path, newest.content, change.original)
          : restoreFile(change.path, change.original),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------

export class NetworkJournal {
  readonly path: string;
  #changes: NetworkChange[];
  /** One operation at a time: each reads and rewrites the whole list. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, changes: NetworkChange[]) {
    this.path = path;
    this.#changes = changes;
  }

  /** Reads the journal at `path` (none yet is an empty journal); its directory is made 0700. */
  static async open(path: string = DEFAULT_JOURNAL_PATH): Promise<NetworkJournal> {
    if (process.platform !== 'linux') throw new NotSupportedError('Network configuration');
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new NetworkJournal(path, []);
      throw new PhantomError(
        'NETWORK_JOURNAL_UNREADABLE',
        `cannot read ${path}: ${(error as Error).message}`,
      );
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // Reported by the schema check below, as any other malformed journal.
    }
    const parsed = journalSchema.safeParse(data);
    if (!parsed.success) {
      throw new PhantomError(
        'NETWORK_JOURNAL_INVALID',
        `${path} is not a network journal this helper understands (${z.prettifyError(parsed.error)}). ` +
          'Undo what it lists by hand (ip rule, nft list ruleset, /etc/resolv.conf), then delete it.',
      );
    }
    return new NetworkJournal(path, parsed.data.changes);
  }

  /** The changes in force, oldest first. */
  get changes(): readonly NetworkChange[] {
    return [...this.#changes];
  }

  /** Records the change, then makes it. If making it fails, the record goes and the error is thrown;
   *  a change that replaces an earlier one (the kill switch, an nft table) leaves that one in force. */
  apply(request: ChangeRequest): Promise<void> {
    return this.#serially(async () => {
      const change = await this.#capture(request);
      const before = this.#changes;
      const index = before.findIndex((old) => replaces(change, old));
      await this.#save(index === -1 ? [...before, change] : before.with(index, change));
      try {
        await perform(change);
      } catch (error) {
        await this.#save(before);
        throw error;
      }
    });
  }

  /** Undoes the changes `filter` selects, newest first. Each leaves the journal once it is undone; those
   *  that fail stay (for recover()) and are reported together after the others are done. */
  undo(filter: (change: NetworkChange) => boolean): Promise<void> {
    return this.#serially(async () => {
      const failures = await this.#undoWhere(filter);
      if (failures.length > 0)
        throw new PhantomError('NET_RESTORE_FAILED', `could not undo: ${failures.join('; ')}`);
    });
  }

  /** At start-up: undoes what a previous run left, except a kill switch that was on. */
  recover(): Promise<RecoveryReport> {
    return this.#serially(async () => {
      const count = this.#changes.length;
      const failures = await this.#undoWhere((change) => change.kind !== 'kill-switch');
      const killSwitch = this.#changes.find((change) => change.kind === 'kill-switch');
      if (killSwitch) {
        try {
          await perform(killSwitch);
        } catch (error) {
          failures.push(`reloading the kill switch: ${(error as Error).message}`);
        }
      }
      return {
        killSwitchKept: killSwitch !== undefined,
        undone: count - this.#changes.length,
        failures,
      };
    });
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #capture(request: ChangeRequest): Promise<NetworkChange> {
    // The first of our changes to a shared sysctl or file keeps the true original for all of them.
    let change: NetworkChange;
    if (request.kind === 'sysctl') {
      const shared = this.#changes.find((old) => old.kind === 'sysctl' && old.key === request.key);
      const original = shared?.kind === 'sysctl' ? shared.original : await readSysctl(request.key);
      change = { ...request, original };
    } else if (request.kind === 'file') {
      const shared = this.#changes.find((old) => old.kind === 'file' && old.path === request.path);
      const original =
        shared?.kind === 'file'
          ? shared.original
          : await onFile(request.path, () => snapshotFile(request.path));
      change = { ...request, original };
    } else {
      change = request;
    }
    const checked = changeSchema.safeParse(change);
    if (!checked.success)
      throw new PhantomError('NETWORK_CHANGE_INVALID', `${change.kind}: ${z.prettifyError(checked.error)}`);
    return checked.data;
  }

  async #undoWhere(filter: (change: NetworkChange) => boolean): Promise<string[]> {
    const failures: string[] = [];
    for (const change of this.#changes.filter(filter).reverse()) {
      const others = this.#changes.filter((other) => other !== change);
      try {
        await revert(change, others);
      } catch (error) {
        failures.push(`${describe(change)}: ${(error as Error).message}`);
        continue;
      }
      await this.#save(others);
    }
    return failures;
  }

  async #save(changes: NetworkChange[]): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify({ version: 1, changes }, null, 2)}\n`, {
      mode: 0o600,
    });
    this.#changes = changes;
  }
}

function describe(change: NetworkChange): string {
  return 'ifname' in change ? `${change.kind} of ${change.ifname}` : change.kind;
}
