// The macOS kinds of network change the journal (journal.ts) records, and how each is made and undone:
// routes through a utun (a full tunnel's halves), host routes to endpoints through the physical
// gateway, the services' DNS in the dynamic store (scutil), and the pf kill switch (which fails
// closed: recovery keeps it). Recovery needs nothing but the file: a route through a utun that died
// with the crashed helper is already gone; a host route, a DNS key and the pf anchor are not.
//
// The seam's NetworkJournal is typed with Linux's changes (one static type for every OS); the
// _darwin files see the same object as a DarwinJournal through darwinJournal().

import { z } from '../../../shared/src/zod.ts';
import { parseIp, parsePrefix } from '../../../shared/src/ip.ts';
import { realInterfaceName } from '../routes_darwin.ts';
import {
  applyScript,
  dnsOriginalSchema,
  mergeOriginals,
  readServiceDns,
  restoreScript,
  runScutil,
  SERVICE_DNS_KEY,
} from './dns_darwin.ts';
import type { ChangeKinds, Journal } from './journal.ts';
import {
  enablePf,
  KILL_SWITCH_ANCHOR,
  killSwitchRulesetInput,
  loadKillSwitch,
  unloadKillSwitch,
} from './killswitch_darwin.ts';
import { routeArgs, runRoute } from './net_darwin.ts';
import type { NetworkJournal } from './network-journal.ts';
import { familySchema as family, ifnameSchema as ifname, prefixSchema as prefix } from './record-schemas.ts';

const address = z
  .string()
  .check(z.refine((text) => parseIp(text.split('%')[0]!) !== null, 'not an IP address'));
/** What the helper's routes through a tunnel may be: the halves of a full tunnel, nothing else. */
const HALF_ROUTES = ['0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1'] as const;
const dnsWord = z.string().check(z.regex(/^[^\s"'\\]+$/));

const changeSchema = z.discriminatedUnion('kind', [
  /** `route add DESTINATION -interface UTUN`: a full tunnel's half of the address space. */
  z.object({ kind: z.literal('route'), ifname, family, destination: z.enum(HALF_ROUTES) }),
  /** `route add ENDPOINT/32 GATEWAY` (or `-interface IF` without a gateway): an endpoint around the tunnel. */
  z.object({
    kind: z.literal('endpoint-route'),
    ifname,
    family,
    destination: prefix.check(z.refine((text) => /\/(32|128)$/.test(text), 'not a host route')),
    gateway: z.optional(address),
    interface: z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9]{0,14}$/)),
  }),
  /** The tunnel's servers on every service's DNS key; `originals` what the keys had before. */
  z.object({
    kind: z.literal('scutil-dns'),
    ifname,
    servers: z.array(address).check(z.minLength(1)),
    search: z.array(dnsWord),
    originals: z.array(dnsOriginalSchema),
  }),
  /** The pf anchor, built from `settings` each time it is loaded (never from stored rules); `token`
   *  is the pfctl -E reference it holds. Kept by recover(), so it fails closed. */
  z.object({
    kind: z.literal('kill-switch'),
    anchor: z.literal(KILL_SWITCH_ANCHOR),
    settings: killSwitchRulesetInput,
    token: z.optional(z.string().check(z.regex(/^\d+$/))),
  }),
]);

export type DarwinNetworkChange = z.infer<typeof changeSchema>;

/** A change as callers ask for it: the journal captures DNS originals and the pf token itself. */
export type DarwinChangeRequest =
  | Exclude<DarwinNetworkChange, { kind: 'scutil-dns' | 'kill-switch' }>
  | Omit<Extract<DarwinNetworkChange, { kind: 'scutil-dns' }>, 'originals'>
  | Omit<Extract<DarwinNetworkChange, { kind: 'kill-switch' }>, 'token'>;

export type DarwinJournal = Journal<DarwinNetworkChange, DarwinChangeRequest>;

/** The seam's journal as what it is on macOS. */
export function darwinJournal(journal: NetworkJournal): DarwinJournal {
  return journal as unknown as DarwinJournal;
}

type ScutilDns = Extract<DarwinNetworkChange, { kind: 'scutil-dns' }>;

function replaces(next: DarwinNetworkChange, old: DarwinNetworkChange): boolean {
  if (next.kind !== old.kind) return false;
  switch (next.kind) {
    case 'kill-switch':
      return true;
    case 'scutil-dns':
      return next.ifname === (old as ScutilDns).ifname;
    default:
      return false;
  }
}

function endpointVia(change: Extract<DarwinNetworkChange, { kind: 'endpoint-route' }>) {
  return change.gateway ? { gateway: change.gateway } : { interface: change.interface };
}

async function perform(change: DarwinNetworkChange): Promise<void> {
  switch (change.kind) {
    case 'route':
      await runRoute(
        routeArgs('add', parsePrefix(change.destination)!, { interface: realInterfaceName(change.ifname) }),
      );
      return;
    case 'endpoint-route':
      await runRoute(routeArgs('add', parsePrefix(change.destination)!, endpointVia(change)));
      return;
    case 'scutil-dns': {
      const keys = change.originals.map((original) => original.key);
      return runScutil(applyScript(keys, { servers: change.servers, search: change.search }));
    }
    case 'kill-switch':
      return loadKillSwitch(change.settings);
  }
}

async function revert(change: DarwinNetworkChange, others: readonly DarwinNetworkChange[]): Promise<void> {
  switch (change.kind) {
    case 'route':
      await runRoute(
        routeArgs('delete', parsePrefix(change.destination)!, {
          interface: realInterfaceName(change.ifname),
        }),
      );
      return;
    case 'endpoint-route':
      await runRoute(routeArgs('delete', parsePrefix(change.destination)!, endpointVia(change)));
      return;
    case 'scutil-dns': {
      // Another tunnel's DNS that stays takes over the keys; the originals come back with the last one.
      const newest = others.findLast((other): other is ScutilDns => other.kind === 'scutil-dns');
      const current = new Map((await readServiceDns()).map(({ key, values }) => [key, values]));
      const ours = { servers: change.servers, search: change.search };
      const fallback = newest ? { servers: newest.servers, search: newest.search } : undefined;
      return runScutil(restoreScript(change.originals, current, ours, fallback));
    }
    case 'kill-switch':
      return unloadKillSwitch(change.token);
  }
}

async function capture(
  request: DarwinChangeRequest,
  recorded: readonly DarwinNetworkChange[],
): Promise<DarwinNetworkChange> {
  if (request.kind === 'scutil-dns') {
    // The oldest tunnel's record holds what the keys had before any of ours: every tunnel shares it.
    const dnsRecords = recorded.filter((old): old is ScutilDns => old.kind === 'scutil-dns');
    const previous = dnsRecords.find((old) => old.ifname === request.ifname) ?? dnsRecords[0];
    const current = (await readServiceDns()).filter(({ key }) => SERVICE_DNS_KEY.test(key));
    const originals = mergeOriginals(previous?.originals ?? [], current, request);
    return { ...request, originals };
  }
  if (request.kind === 'kill-switch') {
    const old = recorded.find((change) => change.kind === 'kill-switch');
    const token = old?.kind === 'kill-switch' && old.token ? old.token : await enablePf();
    return { ...request, token };
  }
  return request;
}

function describe(change: DarwinNetworkChange): string {
  return 'ifname' in change ? `${change.kind} of ${change.ifname}` : change.kind;
}

export const darwinNetworkChanges: ChangeKinds<DarwinNetworkChange, DarwinChangeRequest> = {
  schema: changeSchema,
  capture,
  perform,
  revert,
  replaces,
  failsClosed: (change) => change.kind === 'kill-switch',
  describe,
  manualUndo:
    'Undo what it lists by hand (route -n delete, scutil for the DNS keys, pfctl -a com.phantommesh -F rules), then delete it.',
};
