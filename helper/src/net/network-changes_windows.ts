// The Windows kinds of network change the journal (journal.ts) records, and how each is made and
// undone: routes and addresses (iphlpapi), an interface's fixed metric, its DNS (SetInterfaceDnsSettings
// or the registry), and the WFP kill switch (persistent filters, which fail closed: recovery keeps
// them, as the Linux nft table). Interfaces are recorded by name and LUID: a Wintun adapter goes away
// with the process that made it, and with it its routes and addresses, so undoing those after a crash
// finds nothing and that counts as undone.

import { z } from '../../../shared/src/zod.ts';
import { parseIp, parsePrefix } from '../../../shared/src/ip.ts';
import type { ChangeKinds, Journal } from './journal.ts';
import {
  addRoute,
  deleteRoute,
  getInterface,
  interfaceGuid,
  interfaceLuid,
  setInterface,
  setInterfaceDns,
} from './ipconfig_windows.ts';
import { killSwitchRulesetInput } from './killswitch-settings.ts';
import { familySchema as family, ifnameSchema as ifname, prefixSchema as prefix } from './record-schemas.ts';
import { applyKillSwitchFilters, removeKillSwitchFilters } from './killswitch_windows.ts';
import { parseGuid, formatGuid } from '../guid_windows.ts';

const luid = z.string().check(z.regex(/^[0-9]{1,20}$/));
const guid = z.string().check(z.regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/));

const changeSchema = z.discriminatedUnion('kind', [
  /** A route on the tunnel's adapter (CreateIpForwardEntry2), on-link, with `metric`. */
  z.object({
    kind: z.literal('route'),
    ifname,
    luid,
    destination: prefix,
    metric: z.int().check(z.minimum(0)),
  }),
  /** A fixed interface metric (SetIpInterfaceEntry); `original` null was automatic. */
  z.object({
    kind: z.literal('interface-metric'),
    ifname,
    luid,
    family,
    metric: z.int().check(z.minimum(0)),
    original: z.nullable(z.int().check(z.minimum(0))),
  }),
  /** One family's DNS servers and search list on the tunnel's adapter. */
  z.object({
    kind: z.literal('dns'),
    ifname,
    guid,
    family,
    nameServer: z
      .string()
      .check(z.refine((text) => text === '' || text.split(',').every((s) => parseIp(s) !== null))),
    searchList: z.string().check(z.maxLength(2048)),
  }),
  /** The kill switch's WFP filters, built from `settings` each time (never from stored filters). */
  z.object({ kind: z.literal('kill-switch'), settings: killSwitchRulesetInput }),
]);

export type WindowsNetworkChange = z.infer<typeof changeSchema>;
export type WindowsChangeRequest = WindowsNetworkChange extends infer C
  ? C extends { original: unknown }
    ? Omit<C, 'original'>
    : C
  : never;
export type WindowsJournal = Journal<WindowsNetworkChange, WindowsChangeRequest>;

function replaces(next: WindowsNetworkChange, old: WindowsNetworkChange): boolean {
  if (next.kind !== old.kind) return false;
  switch (next.kind) {
    case 'kill-switch':
      return true;
    case 'interface-metric':
    case 'dns':
      return next.ifname === (old as typeof next).ifname && next.family === (old as typeof next).family;
    default:
      return false;
  }
}

/** The adapter's LUID now: the recorded one if the name still maps to it, else nothing to touch. */
function currentLuid(change: { ifname: string; luid: string }): bigint | null {
  const now = interfaceLuid(change.ifname);
  return now !== null && now === BigInt(change.luid) ? now : null;
}

async function perform(change: WindowsNetworkChange): Promise<void> {
  switch (change.kind) {
    case 'route':
      return addRoute(BigInt(change.luid), parsePrefix(change.destination)!, change.metric);
    case 'interface-metric':
      return setInterface(BigInt(change.luid), change.family, { metric: change.metric });
    case 'dns':
      return setInterfaceDns(parseGuid(change.guid), change);
    case 'kill-switch':
      return applyKillSwitchFilters(change.settings);
  }
}

async function revert(change: WindowsNetworkChange): Promise<void> {
  switch (change.kind) {
    case 'route': {
      const luid = currentLuid(change);
      if (luid !== null) deleteRoute(luid, parsePrefix(change.destination)!, change.metric);
      return;
    }
    case 'interface-metric': {
      const luid = currentLuid(change);
      if (luid !== null) setInterface(luid, change.family, { metric: change.original });
      return;
    }
    case 'dns':
      return setInterfaceDns(parseGuid(change.guid), {
        family: change.family,
        nameServer: '',
        searchList: '',
      });
    case 'kill-switch':
      return removeKillSwitchFilters();
  }
}

async function capture(request: WindowsChangeRequest, recorded: readonly WindowsNetworkChange[]) {
  if (request.kind !== 'interface-metric') return request as WindowsNetworkChange;
  const shared = recorded.find(
    (old) =>
      old.kind === 'interface-metric' && old.ifname === request.ifname && old.family === request.family,
  );
  if (shared?.kind === 'interface-metric') return { ...request, original: shared.original };
  const row = getInterface(BigInt(request.luid), request.family);
  return { ...request, original: !row || row.UseAutomaticMetric ? null : row.Metric };
}

export const windowsNetworkChanges: ChangeKinds<WindowsNetworkChange, WindowsChangeRequest> = {
  schema: changeSchema,
  capture,
  perform,
  revert,
  replaces,
  failsClosed: (change) => change.kind === 'kill-switch',
  describe: (change) => ('ifname' in change ? `${change.kind} of ${change.ifname}` : change.kind),
  manualUndo:
    "Undo what it lists by hand (route print, netsh wfp show filters, the adapter's DNS), then delete it.",
};

/** The GUID of a tunnel's adapter as the journal keeps it. */
export function adapterGuidText(luid: bigint): string {
  return formatGuid(interfaceGuid(luid));
}
