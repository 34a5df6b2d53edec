// The IP Helper operations the Windows network files make (iphlpapi through koffi): an interface's
// LUID by name, addresses, routes, an interface's MTU and metric, its DNS settings (or the registry
// on Windows before 10 2004), and the tables the kill switch and the bind read. Each either succeeds
// or throws a PhantomError with the system's message; deleting what is already gone succeeds.

import { PhantomError } from '../../../shared/src/errors.ts';
import { formatIp, parseIp, type IpPrefix } from '../../../shared/src/ip.ts';
import { advapi32, HKEY_LOCAL_MACHINE, REG_SZ } from '../advapi32_windows.ts';
import { formatGuid, type Guid } from '../guid_windows.ts';
import {
  iphlpapi,
  MIB_IPFORWARD_ROW2,
  MIB_UNICASTIPADDRESS_ROW,
  readMibTable,
  type InterfaceRow,
  type RouteRow,
  type UnicastAddressRow,
} from '../iphlpapi_windows.ts';
import {
  ERROR_FILE_NOT_FOUND,
  ERROR_NOT_FOUND,
  ERROR_OBJECT_ALREADY_EXISTS,
  win32Message,
} from '../kernel32_windows.ts';
import { AF_INET, AF_INET6, AF_UNSPEC, readSockaddrInet, writeSockaddrInet } from '../sockaddr_windows.ts';

const ERROR_ELEMENT_NOT_FOUND = 1168;
/** NL_ROUTE_PROTOCOL MIB_IPPROTO_NETMGMT: a route set by management, like `route add`. */
const MIB_IPPROTO_NETMGMT = 3;

function fail(what: string, code: number): never {
  throw new PhantomError('NET_CONFIG_FAILED', `${what}: ${win32Message(code)}`);
}

/** The LUID of the interface whose alias is `ifname`, or null when there is none. */
export function interfaceLuid(ifname: string): bigint | null {
  const luid = new BigUint64Array(1);
  const status = iphlpapi().ConvertInterfaceAliasToLuid(ifname, luid);
  if (status !== 0) return null;
  return luid[0]!;
}

export function requireLuid(ifname: string): bigint {
  const luid = interfaceLuid(ifname);
  if (luid === null) throw new PhantomError('INTERFACE_NOT_FOUND', `there is no interface ${ifname}`);
  return luid;
}

export function interfaceGuid(luid: bigint): Guid {
  const guid = {} as Guid;
  const status = iphlpapi().ConvertInterfaceLuidToGuid(new BigUint64Array([luid]), guid);
  if (status !== 0) fail(`the GUID of interface ${luid}`, status);
  return guid;
}

const sockaddrBytes = (address: string) => [...writeSockaddrInet(address, 0).buffer];

function addressRow(luid: bigint, prefix: IpPrefix): UnicastAddressRow {
  const row = {} as UnicastAddressRow;
  iphlpapi().InitializeUnicastIpAddressEntry(row);
  row.Address = { bytes: sockaddrBytes(prefix.address) };
  row.InterfaceLuid = luid;
  row.OnLinkPrefixLength = prefix.bits;
  // IpDadStatePreferred: a tunnel has no neighbours to detect duplicates with (wireguard-windows).
  row.DadState = 4;
  return row;
}

export function addAddress(luid: bigint, prefix: IpPrefix): void {
  const status = iphlpapi().CreateUnicastIpAddressEntry(addressRow(luid, prefix));
  if (status !== 0 && status !== ERROR_OBJECT_ALREADY_EXISTS)
    fail(`adding ${prefix.address}/${prefix.bits}`, status);
}

export function deleteAddress(luid: bigint, prefix: IpPrefix): void {
  const status = iphlpapi().DeleteUnicastIpAddressEntry(addressRow(luid, prefix));
  if (status !== 0 && status !== ERROR_NOT_FOUND && status !== ERROR_FILE_NOT_FOUND)
    fail(`removing ${prefix.address}/${prefix.bits}`, status);
}

function routeRow(luid: bigint, destination: IpPrefix, nextHop: string | null, metric: number): RouteRow {
  const row = {} as RouteRow;
  iphlpapi().InitializeIpForwardEntry(row);
  row.InterfaceLuid = luid;
  row.DestinationPrefix = {
    Prefix: { bytes: sockaddrBytes(destination.address) },
    PrefixLength: destination.bits,
  };
  // On-link (the unspecified address of the family) unless a gateway is given.
  row.NextHop = { bytes: sockaddrBytes(nextHop ?? (destination.family === 4 ? '0.0.0.0' : '::')) };
  row.Metric = metric;
  row.Protocol = MIB_IPPROTO_NETMGMT;
  return row;
}

export function addRoute(
  luid: bigint,
  destination: IpPrefix,
  metric = 0,
  nextHop: string | null = null,
): void {
  const status = iphlpapi().CreateIpForwardEntry2(routeRow(luid, destination, nextHop, metric));
  if (status !== 0 && status !== ERROR_OBJECT_ALREADY_EXISTS)
    fail(`adding the route to ${destination.address}/${destination.bits}`, status);
}

export function deleteRoute(
  luid: bigint,
  destination: IpPrefix,
  metric = 0,
  nextHop: string | null = null,
): void {
  const status = iphlpapi().DeleteIpForwardEntry2(routeRow(luid, destination, nextHop, metric));
  if (
    status !== 0 &&
    status !== ERROR_NOT_FOUND &&
    status !== ERROR_FILE_NOT_FOUND &&
    status !== ERROR_ELEMENT_NOT_FOUND
  )
    fail(`removing the route to ${destination.address}/${destination.bits}`, status);
}

/** The IP settings of an interface for one family (null: that family is not on it). */
export function getInterface(luid: bigint, family: 4 | 6): InterfaceRow | null {
  const row = {} as InterfaceRow;
  iphlpapi().InitializeIpInterfaceEntry(row);
  row.Family = family === 4 ? AF_INET : AF_INET6;
  row.InterfaceLuid = luid;
  const status = iphlpapi().GetIpInterfaceEntry(row);
  if (status === ERROR_NOT_FOUND || status === ERROR_FILE_NOT_FOUND) return null;
  if (status !== 0) fail(`reading interface ${luid}`, status);
  return row;
}

export interface InterfaceSettings {
  mtu?: number;
  /** A fixed metric; null: automatic again. */
  metric?: number | null;
}

export function setInterface(luid: bigint, family: 4 | 6, settings: InterfaceSettings): void {
  const row = getInterface(luid, family);
  if (!row) return;
  if (settings.mtu !== undefined) row.NlMtu = settings.mtu;
  if (settings.metric !== undefined) {
    row.UseAutomaticMetric = settings.metric === null ? 1 : 0;
    row.Metric = settings.metric ?? 0;
  }
  // SetIpInterfaceEntry refuses a row with SitePrefixLength set for IPv4 (wireguard-windows clears it).
  if (family === 4) row.SitePrefixLength = 0;
  const status = iphlpapi().SetIpInterfaceEntry(row);
  if (status !== 0 && status !== ERROR_NOT_FOUND) fail(`setting interface ${luid}`, status);
}

// ---- DNS

const DNS_INTERFACE_SETTINGS_VERSION1 = 1;
const DNS_SETTING_IPV6 = 0x1n;
const DNS_SETTING_NAMESERVER = 0x2n;
const DNS_SETTING_SEARCHLIST = 0x4n;

/** What one family's DNS on an interface becomes (the registry's and SetInterfaceDnsSettings' form). */
export interface InterfaceDns {
  family: 4 | 6;
  /** Comma-separated, as the API takes them; "" clears. */
  nameServer: string;
  searchList: string;
}

/** The tunnel's DNS servers and search domains, per family: servers of that family, the search
 *  list with the IPv4 settings (or the IPv6 ones when there are only IPv6 servers). Pure. */
export function dnsPlan(servers: readonly string[], search: readonly string[]): InterfaceDns[] {
  const ofFamily = (family: 4 | 6) =>
    servers
      .filter((server) => (parseIp(server)?.length === 4 ? 4 : 6) === family)
      .map((s) => formatIp(parseIp(s)!));
  const v4 = ofFamily(4);
  const v6 = ofFamily(6);
  const plan: InterfaceDns[] = [];
  if (v4.length > 0) plan.push({ family: 4, nameServer: v4.join(','), searchList: search.join(',') });
  if (v6.length > 0)
    plan.push({ family: 6, nameServer: v6.join(','), searchList: v4.length > 0 ? '' : search.join(',') });
  return plan;
}

/** The registry key of an interface's TCP/IP parameters (the DNS fallback before Windows 10 2004). */
export function tcpipInterfaceKey(family: 4 | 6, guid: Guid): string {
  const service = family === 4 ? 'Tcpip' : 'Tcpip6';
  return `SYSTEM\\CurrentControlSet\\Services\\${service}\\Parameters\\Interfaces\\{${formatGuid(guid)}}`;
}

function setRegistryString(key: string, name: string, value: string): void {
  const data = Buffer.from(`${value}\0`, 'utf16le');
  const status = advapi32().RegSetKeyValueW(HKEY_LOCAL_MACHINE, key, name, REG_SZ, data, data.length);
  if (status !== 0) fail(`writing HKLM\\${key}\\${name}`, status);
}

/** Sets one family's DNS on the interface (SetInterfaceDnsSettings, else the registry). */
export function setInterfaceDns(guid: Guid, dns: InterfaceDns): void {
  const set = iphlpapi().SetInterfaceDnsSettings;
  if (set) {
    const status = set(guid, {
      Version: DNS_INTERFACE_SETTINGS_VERSION1,
      Flags: DNS_SETTING_NAMESERVER | DNS_SETTING_SEARCHLIST | (dns.family === 6 ? DNS_SETTING_IPV6 : 0n),
      Domain: null,
      NameServer: dns.nameServer,
      SearchList: dns.searchList,
      RegistrationEnabled: 0,
      RegisterAdapterName: 0,
      EnableLLMNR: 0,
      QueryAdapterName: 0,
      ProfileNameServer: null,
    });
    if (status === 0) return;
    if (status === ERROR_NOT_FOUND || status === ERROR_FILE_NOT_FOUND) return;
    fail(`setting DNS on {${formatGuid(guid)}}`, status);
  }
  const key = tcpipInterfaceKey(dns.family, guid);
  setRegistryString(key, 'NameServer', dns.nameServer);
  setRegistryString(key, 'SearchList', dns.searchList);
}

// ---- tables

export interface RouteEntry {
  luid: bigint;
  index: number;
  destination: IpPrefix;
  nextHop: string;
  metric: number;
}

export interface AddressEntry {
  luid: bigint;
  index: number;
  address: string;
  family: 4 | 6;
  prefixLength: number;
}

function readTable<T>(
  get: (table: BigUint64Array) => number,
  rowType: Parameters<typeof readMibTable>[1],
  what: string,
): T[] {
  const table = new BigUint64Array(1);
  const status = get(table);
  if (status !== 0) fail(`reading the ${what}`, status);
  try {
    return readMibTable<T>(table[0]!, rowType);
  } finally {
    iphlpapi().FreeMibTable(table[0]!);
  }
}

export function routeTable(): RouteEntry[] {
  const rows = readTable<RouteRow>(
    (t) => iphlpapi().GetIpForwardTable2(AF_UNSPEC, t),
    MIB_IPFORWARD_ROW2,
    'routes',
  );
  return rows.flatMap((row) => {
    const destination = readSockaddrInet(Uint8Array.from(row.DestinationPrefix.Prefix.bytes));
    const nextHop = readSockaddrInet(Uint8Array.from(row.NextHop.bytes));
    if (!destination) return [];
    return [
      {
        luid: row.InterfaceLuid,
        index: row.InterfaceIndex,
        destination: {
          address: destination.address,
          bits: row.DestinationPrefix.PrefixLength,
          family: destination.family,
        },
        nextHop: nextHop?.address ?? (destination.family === 4 ? '0.0.0.0' : '::'),
        metric: row.Metric,
      },
    ];
  });
}

export function addressTable(): AddressEntry[] {
  const rows = readTable<UnicastAddressRow>(
    (t) => iphlpapi().GetUnicastIpAddressTable(AF_UNSPEC, t),
    MIB_UNICASTIPADDRESS_ROW,
    'addresses',
  );
  return rows.flatMap((row) => {
    const address = readSockaddrInet(Uint8Array.from(row.Address.bytes));
    if (!address) return [];
    return [
      {
        luid: row.InterfaceLuid,
        index: row.InterfaceIndex,
        address: address.address,
        family: address.family,
        prefixLength: row.OnLinkPrefixLength,
      },
    ];
  });
}

/** The interface metric of each interface and family (what Windows adds to a route's metric). */
export function interfaceMetric(luid: bigint, family: 4 | 6): number {
  return getInterface(luid, family)?.Metric ?? 0;
}
