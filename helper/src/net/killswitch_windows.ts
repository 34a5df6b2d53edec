// The kill switch on Windows: the filters of wfp-plan_windows.ts in a persistent WFP sublayer of our
// own (fwpuclnt through koffi). Persistent, so that they stay while the helper is stopped or crashed
// and after a reboot (as the Linux nft table and its lockdown unit do): only the journal's revert, the
// user's "off", takes them away. An update deletes our filters and adds the new ones in one
// transaction, so there is never a moment without them. The journal keeps the settings, not filters.
// The helper's own traffic to the endpoints is told from everyone else's by its service SID
// (wfp-plan_windows.ts), which its token holds only when it runs as the installed service.

import { PhantomError } from '../../../shared/src/errors.ts';
import {
  FWP_E_ALREADY_EXISTS,
  FWP_E_FILTER_NOT_FOUND,
  FWP_E_PROVIDER_NOT_FOUND,
  FWP_E_SUBLAYER_NOT_FOUND,
  FWPM_FILTER0,
  FWPM_PROVIDER_FLAG_PERSISTENT,
  FWPM_SUBLAYER_FLAG_PERSISTENT,
  fwpuclnt,
  RPC_C_AUTHN_WINNT,
} from '../fwpuclnt_windows.ts';
import { formatGuid, type Guid } from '../guid_windows.ts';
import { kernel32, win32Message, type Pointer } from '../kernel32_windows.ts';
import { advapi32, SDDL_REVISION_1 } from '../advapi32_windows.ts';
import { HELPER_SERVICE_NAME } from '../../../shared/src/control/pipe-server-check.ts';
import { sidBytes } from '../control/peercred_windows.ts';
import { serviceSid } from '../service/service-sid_windows.ts';
import koffi from 'koffi';
import type { KillSwitchSettings, LocalNetworks } from './killswitch.ts';
import { localNetworksOf, rulesetInputOf } from './killswitch-settings.ts';
import type { NetworkJournal } from './network-journal.ts';
import {
  addressTable,
  interfaceLuid,
  routeTable,
  type AddressEntry,
  type RouteEntry,
} from './ipconfig_windows.ts';
import {
  describePlan,
  killSwitchPlan,
  type KillSwitchPlanInput,
  type WfpFilter,
} from './wfp-plan_windows.ts';
import {
  encodeFilter,
  PROVIDER_KEY,
  SUBLAYER_KEY,
  SUBLAYER_WEIGHT,
  userMatchSddl,
  type DescriptorBlob,
} from './wfp-encode_windows.ts';
import { maskedPrefix, type IpPrefix } from '../../../shared/src/ip.ts';
import type { WindowsJournal } from './network-changes_windows.ts';

function wfpFail(what: string, code: number): never {
  throw new PhantomError('KILL_SWITCH_FAILED', `${what}: ${win32Message(code)}`);
}

/** Opens the filtering engine, runs `body` in one transaction, commits (aborts on error), closes. */
function inTransaction<T>(body: (engine: Pointer) => T): T {
  const api = fwpuclnt();
  const handle = new BigUint64Array(1);
  const opened = api.FwpmEngineOpen0(null, RPC_C_AUTHN_WINNT, 0n, null, handle);
  if (opened !== 0) wfpFail('opening the Windows Filtering Platform', opened);
  const engine = handle[0]!;
  try {
    const begun = api.FwpmTransactionBegin0(engine, 0);
    if (begun !== 0) wfpFail('starting a WFP transaction', begun);
    let result: T;
    try {
      result = body(engine);
    } catch (error) {
      api.FwpmTransactionAbort0(engine);
      throw error;
    }
    const committed = api.FwpmTransactionCommit0(engine);
    if (committed !== 0) wfpFail('committing the WFP transaction', committed);
    return result;
  } finally {
    api.FwpmEngineClose0(engine);
  }
}

const sameGuid = (a: Guid, b: Guid) => formatGuid(a) === formatGuid(b);

/** The ids and names of the filters in our sublayer. */
function ourFilters(engine: Pointer): { id: bigint; name: string }[] {
  const api = fwpuclnt();
  const enumHandle = new BigUint64Array(1);
  const created = api.FwpmFilterCreateEnumHandle0(engine, 0n, enumHandle);
  if (created !== 0) wfpFail('listing WFP filters', created);
  const found: { id: bigint; name: string }[] = [];
  try {
    for (;;) {
      const entries = new BigUint64Array(1);
      const returned = new Uint32Array(1);
      const status = api.FwpmFilterEnum0(engine, enumHandle[0]!, 256, entries, returned);
      if (status !== 0) wfpFail('listing WFP filters', status);
      if (returned[0] === 0) break;
      try {
        const pointers = koffi.decode(entries[0]!, 'uint64', returned[0]!) as bigint[];
        for (const pointer of pointers) {
          const filter = koffi.decode(pointer, FWPM_FILTER0) as {
            subLayerKey: Guid;
            filterId: bigint;
            displayData: { name: string | null };
          };
          if (sameGuid(filter.subLayerKey, SUBLAYER_KEY))
            found.push({ id: filter.filterId, name: filter.displayData.name ?? '' });
        }
      } finally {
        api.FwpmFreeMemory0(entries);
      }
      if (returned[0]! < 256) break;
    }
  } finally {
    api.FwpmFilterDestroyEnumHandle0(engine, enumHandle[0]!);
  }
  return found;
}

function deleteOurFilters(engine: Pointer): void {
  for (const { id } of ourFilters(engine)) {
    const status = fwpuclnt().FwpmFilterDeleteById0(engine, id);
    if (status !== 0 && status !== FWP_E_FILTER_NOT_FOUND) wfpFail('removing a kill-switch filter', status);
  }
}

/** NT SERVICE\PhantomMeshHelper: the SID the endpoint filters let through. */
let cachedHelperSid: string | undefined;
/** Computed at first use, not at import: this module loads on every OS (the kill-switch seam imports it). */
const helperSid = () => (cachedHelperSid ??= serviceSid(HELPER_SERVICE_NAME));

/**
 * Refuses to apply filters this process's own traffic would not pass: without the service SID in its
 * token (a helper started by hand, or a service whose SID type is not unrestricted) the endpoint
 * exception would not match it, and the kill switch would block its own tunnels.
 */
function requireServiceSid(): void {
  const member = new Int32Array(1);
  // A null token: CheckTokenMembership checks the calling thread's (here the process's) token.
  if (!advapi32().CheckTokenMembership(0n, sidBytes(helperSid()), member))
    wfpFail("checking the helper's service SID", kernel32().GetLastError());
  if (member[0] === 0)
    throw new PhantomError(
      'KILL_SWITCH_FAILED',
      `the helper does not hold its service SID NT SERVICE\\${HELPER_SERVICE_NAME} (${helperSid()}), which ` +
        'the kill switch lets reach the endpoints: run it as the installed service, whose SID type the ' +
        `installer makes unrestricted (as an administrator: sc sidtype ${HELPER_SERVICE_NAME} unrestricted, ` +
        `then sc stop ${HELPER_SERVICE_NAME} and sc start ${HELPER_SERVICE_NAME})`,
    );
}

/** The 'user' condition's security descriptor for `sid` (userMatchSddl), LocalFree'd by the caller. */
function matchDescriptor(sid: string): DescriptorBlob {
  const out = new BigUint64Array(1);
  const sddl = userMatchSddl(sid);
  if (!advapi32().ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, out, 0n))
    wfpFail(`the security descriptor ${sddl}`, kernel32().GetLastError());
  // The conversion makes a self-relative descriptor, which is what WFP takes.
  return { size: advapi32().GetSecurityDescriptorLength(out[0]!), data: out[0]! };
}

/** Each tunnel's adapter LUID, for those whose adapter exists now. */
function tunnelLuids(settings: KillSwitchPlanInput): Map<string, bigint> {
  const luids = new Map<string, bigint>();
  for (const tunnel of settings.tunnels) {
    const luid = interfaceLuid(tunnel.ifname);
    if (luid !== null) luids.set(tunnel.ifname, luid);
  }
  return luids;
}

function planFor(settings: KillSwitchPlanInput): WfpFilter[] {
  return killSwitchPlan(settings, { luids: tunnelLuids(settings), serviceSid: helperSid() });
}

/** Replaces our filters with those of `settings`, in one transaction. */
export async function applyKillSwitchFilters(settings: KillSwitchPlanInput): Promise<void> {
  const filters = planFor(settings);
  requireServiceSid();
  const descriptor = matchDescriptor(helperSid());
  try {
    inTransaction((engine) => {
      const api = fwpuclnt();
      const display = { name: 'PhantomMesh', description: 'PhantomMesh kill switch' };
      const provider = api.FwpmProviderAdd0(
        engine,
        {
          providerKey: PROVIDER_KEY,
          displayData: display,
          flags: FWPM_PROVIDER_FLAG_PERSISTENT,
          providerData: { size: 0, data: null },
          serviceName: null,
        },
        0n,
      );
      if (provider !== 0 && provider !== FWP_E_ALREADY_EXISTS) wfpFail('adding the WFP provider', provider);
      const sublayer = api.FwpmSubLayerAdd0(
        engine,
        {
          subLayerKey: SUBLAYER_KEY,
          displayData: display,
          flags: FWPM_SUBLAYER_FLAG_PERSISTENT,
          providerKey: PROVIDER_KEY,
          providerData: { size: 0, data: null },
          weight: SUBLAYER_WEIGHT,
        },
        0n,
      );
      if (sublayer !== 0 && sublayer !== FWP_E_ALREADY_EXISTS) wfpFail('adding the WFP sublayer', sublayer);
      deleteOurFilters(engine);
      const descriptors = new Map([[helperSid(), descriptor]]);
      for (const filter of filters) {
        const id = new BigUint64Array(1);
        const status = api.FwpmFilterAdd0(engine, encodeFilter(filter, descriptors), 0n, id);
        if (status !== 0) wfpFail(`adding the kill-switch filter "${filter.name}"`, status);
      }
    });
  } finally {
    kernel32().LocalFree(descriptor.data);
  }
}

/** Takes every filter of ours away, and the sublayer and provider with them. */
export async function removeKillSwitchFilters(): Promise<void> {
  inTransaction((engine) => {
    const api = fwpuclnt();
    deleteOurFilters(engine);
    const sublayer = api.FwpmSubLayerDeleteByKey0(engine, SUBLAYER_KEY);
    if (sublayer !== 0 && sublayer !== FWP_E_SUBLAYER_NOT_FOUND)
      wfpFail('removing the WFP sublayer', sublayer);
    const provider = api.FwpmProviderDeleteByKey0(engine, PROVIDER_KEY);
    if (provider !== 0 && provider !== FWP_E_PROVIDER_NOT_FOUND)
      wfpFail('removing the WFP provider', provider);
  });
}

export function setKillSwitch(journal: NetworkJournal, settings: KillSwitchSettings): Promise<void> {
  const windows = journal as unknown as WindowsJournal;
  if (!settings.enabled) return windows.undo((change) => change.kind === 'kill-switch');
  // Refuses what it cannot express before anything is recorded.
  killSwitchPlan(settings, { luids: new Map(), serviceSid: helperSid() });
  return windows.apply({ kind: 'kill-switch', settings: rulesetInputOf(settings) });
}

/** The plan as text (tunnel-manager writes it as the lockdown file; on Windows the persistent
 *  filters themselves hold across a reboot, so nothing loads that file). */
export function killSwitchRuleset(settings: KillSwitchPlanInput): string {
  return `${describePlan(killSwitchPlan(settings, { luids: new Map(), serviceSid: helperSid() }))}\n`;
}

/** Whether our filters are still there as applied: the listing is their names, sorted. */
export async function checkKillSwitch(
  journal: NetworkJournal,
  expected?: string,
): Promise<{ status: 'intact' | 'missing' | 'changed'; listing: string | null }> {
  const windows = journal as unknown as WindowsJournal;
  if (!windows.changes.some((change) => change.kind === 'kill-switch'))
    return { status: 'intact', listing: null };
  const names = inTransaction((engine) => ourFilters(engine).map((f) => f.name)).sort();
  if (names.length === 0) return { status: 'missing', listing: null };
  const listing = names.join('\n');
  return { status: expected === undefined || listing === expected ? 'intact' : 'changed', listing };
}

/**
 * The local networks from the address and route tables (pure): the subnets of the addresses on
 * interfaces other than `excluded` (the tunnels' adapters) and loopback, leaving out link-local
 * addresses (allowed as a whole); a DHCP server is an IPv4 default route's gateway inside one of them.
 */
export function localNetworksFromTables(
  addresses: readonly AddressEntry[],
  routes: readonly RouteEntry[],
  excluded: ReadonlySet<bigint>,
): LocalNetworks {
  // Keyed by the LUID's text: the links localNetworksOf pairs the gateways with.
  const subnets = new Map<string, IpPrefix[]>();
  for (const entry of addresses) {
    if (excluded.has(entry.luid)) continue;
    if (entry.address === '::1' || entry.address.startsWith('127.')) continue;
    if (entry.address.startsWith('169.254.') || entry.address.toLowerCase().startsWith('fe80:')) continue;
    if (entry.prefixLength === 0) continue;
    const subnet = maskedPrefix({ address: entry.address, bits: entry.prefixLength, family: entry.family });
    const link = String(entry.luid);
    subnets.set(link, [...(subnets.get(link) ?? []), subnet]);
  }
  const gateways = routes
    .filter((r) => r.destination.family === 4 && r.destination.bits === 0 && r.nextHop !== '0.0.0.0')
    .filter((r) => !excluded.has(r.luid))
    .map((r) => ({ gateway: r.nextHop, link: String(r.luid) }));
  return localNetworksOf(subnets, gateways);
}

export async function readLocalNetworks(tunnels: readonly string[]): Promise<LocalNetworks> {
  const excluded = new Set(tunnels.map(interfaceLuid).filter((luid): luid is bigint => luid !== null));
  return localNetworksFromTables(addressTable(), routeTable(), excluded);
}
