// The Linux kinds of network change the journal (journal.ts) records, and how each is made and undone:
// routes and policy rules (ip), sysctls, nft tables (the full tunnel's and the kill switch's, which
// fails closed), systemd-resolved links, resolvconf records and replaced files (/etc/resolv.conf).
// Moved here from journal.ts, which keeps the engine: persistence, ordering, the recovery policy.

import { z } from '../../../shared/src/zod.ts';
import { isInterfaceName } from '../../../shared/src/interface-name.ts';
import { parsePrefix } from '../../../shared/src/ip.ts';
import {
  addressSchema as address,
  familySchema as family,
  ifnameSchema as ifname,
  prefixSchema as prefix,
} from './record-schemas.ts';
import type { ChangeKinds } from './journal.ts';
import {
  KILL_SWITCH_TABLE,
  killSwitchRuleset,
  killSwitchRulesetInput,
  type KillSwitchRulesetInput,
} from './killswitch_linux.ts';
import {
  fileSnapshotSchema,
  onFile,
  restoreFile,
  snapshotFile,
  writeFileContent,
} from './file-snapshot_linux.ts';
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
} from './net_linux.ts';

// ---------------------------------------------------------------------------------------------
// The records: plain JSON, validated when read back.

const u32 = z.int().check(z.minimum(1), z.maximum(0xffffffff));
/** The helper's own nft tables (full tunnels'): undoing a change never deletes anyone else's. */
const nftName = z.string().check(z.regex(/^phantommesh-[A-Za-z0-9_.-]+$/));
/**
 * What recovery may touch, and nothing else: the journal sits in a root-only directory, but a file
 * there is still no reason for root to write any path or sysctl it names.
 */
const SYSCTLS = ['net.ipv4.conf.all.src_valid_mark'] as const;
const FILES = ['/etc/resolv.conf'] as const;

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
    key: z.enum(SYSCTLS),
    value: z.string().check(z.regex(/^[0-9]{1,10}$/)),
    original: z.string().check(z.regex(/^[0-9]{1,10}$/)),
  }),
  /** An nft table of an interface (`table inet NAME`), loaded from `ruleset` in one transaction. */
  z.object({ kind: z.literal('nft-table'), ifname, name: nftName, ruleset: z.string() }),
  /** The kill switch's nft table, built from `settings` each time it is loaded (never from stored
   *  text, which a tampered journal could fill with any rule): kept by recover(), so it fails closed. */
  z.object({
    kind: z.literal('kill-switch'),
    table: z.literal(KILL_SWITCH_TABLE),
    settings: killSwitchRulesetInput,
  }),
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
    record: z.string().check(z.refine((record) => isInterfaceName(record.replace(/^[A-Za-z0-9-]+\./, '')))),
    content: z.string(),
  }),
  /** A file replaced by `content`; `original` is how it was before the first of our changes to it. */
  z.object({
    kind: z.literal('file'),
    ifname,
    path: z.enum(FILES),
    content: z.string(),
    original: fileSnapshotSchema,
  }),
]);

/** A kill switch a helper before 0.1.1 recorded (the nft text itself) is read as the strictest one:
 *  no tunnel, no LAN, so it still fails closed, and none of the stored text is loaded. The service
 *  replaces it as soon as it applies its own. */
const LEGACY_KILL_SWITCH: KillSwitchRulesetInput = { allowLan: false, tunnels: [] };

function upgrade(change: unknown): unknown {
  if (typeof change !== 'object' || change === null) return change;
  const old = change as Record<string, unknown>;
  if (old.kind !== 'kill-switch' || 'settings' in old || typeof old.ruleset !== 'string') return change;
  return { kind: 'kill-switch', table: old.table, settings: LEGACY_KILL_SWITCH };
}

const recordSchema = z.pipe(z.transform(upgrade), changeSchema);

export type NetworkChange = z.infer<typeof changeSchema>;

/** A change as callers ask for it: the journal itself captures the `original` of sysctls and files. */
export type ChangeRequest = NetworkChange extends infer C
  ? C extends { original: unknown }
    ? Omit<C, 'original'>
    : C
  : never;

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
      return applyNftRuleset(change.ruleset);
    case 'kill-switch':
      return applyNftRuleset(killSwitchRuleset(change.settings));
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
async function revert(change: NetworkChange, others: readonly NetworkChange[]): Promise<void> {
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

/** The first of our changes to a shared sysctl or file keeps the true original for all of them. */
async function capture(request: ChangeRequest, recorded: readonly NetworkChange[]): Promise<NetworkChange> {
  let change: NetworkChange;
  if (request.kind === 'sysctl') {
    const shared = recorded.find((old) => old.kind === 'sysctl' && old.key === request.key);
    const original = shared?.kind === 'sysctl' ? shared.original : await readSysctl(request.key);
    change = { ...request, original };
  } else if (request.kind === 'file') {
    const shared = recorded.find((old) => old.kind === 'file' && old.path === request.path);
    const original =
      shared?.kind === 'file'
        ? shared.original
        : await onFile(request.path, () => snapshotFile(request.path));
    change = { ...request, original };
  } else {
    change = request;
  }
  return change;
}

function describe(change: NetworkChange): string {
  return 'ifname' in change ? `${change.kind} of ${change.ifname}` : change.kind;
}

export const linuxNetworkChanges: ChangeKinds<NetworkChange, ChangeRequest> = {
  schema: recordSchema,
  capture,
  perform,
  revert,
  replaces,
  failsClosed: (change) => change.kind === 'kill-switch',
  describe,
  manualUndo: 'Undo what it lists by hand (ip rule, nft list ruleset, /etc/resolv.conf), then delete it.',
};
