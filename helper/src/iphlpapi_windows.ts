// iphlpapi through koffi: the IP Helper functions and rows the Windows network files use (addresses,
// routes, interface settings, DNS, change notifications), declared once and loaded on first use. The
// rows' layouts are those of netioapi.h on 64-bit Windows; the unit tests check their sizes and the
// offsets the code relies on (on Linux: koffi lays out structs the same way everywhere).

import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { GUID, type Pointer } from './kernel32_windows.ts';
import type { Guid } from './guid_windows.ts';

/** SOCKADDR_INET: bytes, written and read by sockaddr_windows.ts. */
export const SOCKADDR_INET: TypeObject = koffi.struct('SOCKADDR_INET', {
  bytes: [4, koffi.array('uint8', 28)],
});

export const IP_ADDRESS_PREFIX: TypeObject = koffi.struct('IP_ADDRESS_PREFIX', {
  Prefix: SOCKADDR_INET,
  PrefixLength: 'uint8',
});

export const MIB_UNICASTIPADDRESS_ROW: TypeObject = koffi.struct('MIB_UNICASTIPADDRESS_ROW', {
  Address: SOCKADDR_INET,
  InterfaceLuid: 'uint64',
  InterfaceIndex: 'uint32',
  PrefixOrigin: 'uint32',
  SuffixOrigin: 'uint32',
  ValidLifetime: 'uint32',
  PreferredLifetime: 'uint32',
  OnLinkPrefixLength: 'uint8',
  SkipAsSource: 'uint8',
  DadState: 'uint32',
  ScopeId: 'uint32',
  CreationTimeStamp: 'int64',
});

export const MIB_IPFORWARD_ROW2: TypeObject = koffi.struct('MIB_IPFORWARD_ROW2', {
  InterfaceLuid: 'uint64',
  InterfaceIndex: 'uint32',
  DestinationPrefix: IP_ADDRESS_PREFIX,
  NextHop: SOCKADDR_INET,
  SitePrefixLength: 'uint8',
  ValidLifetime: 'uint32',
  PreferredLifetime: 'uint32',
  Metric: 'uint32',
  Protocol: 'uint32',
  Loopback: 'uint8',
  AutoconfigureAddress: 'uint8',
  Publish: 'uint8',
  Immortal: 'uint8',
  Age: 'uint32',
  Origin: 'uint32',
});

export const MIB_IPINTERFACE_ROW: TypeObject = koffi.struct('MIB_IPINTERFACE_ROW', {
  Family: 'uint16',
  InterfaceLuid: 'uint64',
  InterfaceIndex: 'uint32',
  MaxReassemblySize: 'uint32',
  InterfaceIdentifier: 'uint64',
  MinRouterAdvertisementInterval: 'uint32',
  MaxRouterAdvertisementInterval: 'uint32',
  AdvertisingEnabled: 'uint8',
  ForwardingEnabled: 'uint8',
  WeakHostSend: 'uint8',
  WeakHostReceive: 'uint8',
  UseAutomaticMetric: 'uint8',
  UseNeighborUnreachabilityDetection: 'uint8',
  ManagedAddressConfigurationSupported: 'uint8',
  OtherStatefulConfigurationSupported: 'uint8',
  AdvertiseDefaultRoute: 'uint8',
  RouterDiscoveryBehavior: 'uint32',
  DadTransmits: 'uint32',
  BaseReachableTime: 'uint32',
  RetransmitTime: 'uint32',
  PathMtuDiscoveryTimeout: 'uint32',
  LinkLocalAddressBehavior: 'uint32',
  LinkLocalAddressTimeout: 'uint32',
  ZoneIndices: koffi.array('uint32', 16),
  SitePrefixLength: 'uint32',
  Metric: 'uint32',
  NlMtu: 'uint32',
  Connected: 'uint8',
  SupportsWakeUpPatterns: 'uint8',
  SupportsNeighborDiscovery: 'uint8',
  SupportsRouterDiscovery: 'uint8',
  ReachableTime: 'uint32',
  TransmitOffload: 'uint8',
  ReceiveOffload: 'uint8',
  DisableDefaultRoutes: 'uint8',
});

/** DNS_INTERFACE_SETTINGS (version 1), for SetInterfaceDnsSettings (Windows 10 2004 and later). */
export const DNS_INTERFACE_SETTINGS: TypeObject = koffi.struct('DNS_INTERFACE_SETTINGS', {
  Version: 'uint32',
  Flags: 'uint64',
  Domain: 'str16',
  NameServer: 'str16',
  SearchList: 'str16',
  RegistrationEnabled: 'uint32',
  RegisterAdapterName: 'uint32',
  EnableLLMNR: 'uint32',
  QueryAdapterName: 'uint32',
  ProfileNameServer: 'str16',
});

/** MIB_IPFORWARD_TABLE2 / MIB_UNICASTIPADDRESS_TABLE: a count, then rows from offset 8. */
export const TABLE_ROWS_OFFSET = 8;

/** void NETIOAPI_API_ callback(PVOID context, PMIB_... row, MIB_NOTIFICATION_TYPE type) */
export const MibChangeCallback: TypeObject = koffi.proto(
  'void __stdcall PhantomMibChange(void *context, void *row, uint32 notificationType)',
);

export interface RouteRow {
  InterfaceLuid: bigint;
  InterfaceIndex: number;
  DestinationPrefix: { Prefix: { bytes: number[] }; PrefixLength: number };
  NextHop: { bytes: number[] };
  SitePrefixLength: number;
  ValidLifetime: number;
  PreferredLifetime: number;
  Metric: number;
  Protocol: number;
  Loopback: number;
  AutoconfigureAddress: number;
  Publish: number;
  Immortal: number;
  Age: number;
  Origin: number;
}

export interface UnicastAddressRow {
  Address: { bytes: number[] };
  InterfaceLuid: bigint;
  InterfaceIndex: number;
  PrefixOrigin: number;
  SuffixOrigin: number;
  ValidLifetime: number;
  PreferredLifetime: number;
  OnLinkPrefixLength: number;
  SkipAsSource: number;
  DadState: number;
  ScopeId: number;
  CreationTimeStamp: bigint;
}

export type InterfaceRow = Record<string, unknown> & {
  Family: number;
  InterfaceLuid: bigint;
  InterfaceIndex: number;
  UseAutomaticMetric: number;
  Metric: number;
  NlMtu: number;
  SitePrefixLength: number;
  DadTransmits: number;
  RouterDiscoveryBehavior: number;
  ManagedAddressConfigurationSupported: number;
  OtherStatefulConfigurationSupported: number;
};

export interface DnsInterfaceSettings {
  Version: number;
  Flags: bigint;
  Domain: string | null;
  NameServer: string | null;
  SearchList: string | null;
  RegistrationEnabled: number;
  RegisterAdapterName: number;
  EnableLLMNR: number;
  QueryAdapterName: number;
  ProfileNameServer: string | null;
}

export interface Iphlpapi {
  InitializeUnicastIpAddressEntry: (row: object) => void;
  CreateUnicastIpAddressEntry: (row: object) => number;
  DeleteUnicastIpAddressEntry: (row: object) => number;
  GetUnicastIpAddressTable: (family: number, table: BigUint64Array) => number;
  InitializeIpForwardEntry: (row: object) => void;
  CreateIpForwardEntry2: (row: object) => number;
  DeleteIpForwardEntry2: (row: object) => number;
  GetIpForwardTable2: (family: number, table: BigUint64Array) => number;
  InitializeIpInterfaceEntry: (row: object) => void;
  GetIpInterfaceEntry: (row: object) => number;
  SetIpInterfaceEntry: (row: object) => number;
  FreeMibTable: (table: Pointer) => void;
  ConvertInterfaceAliasToLuid: (alias: string, luid: BigUint64Array) => number;
  ConvertInterfaceLuidToGuid: (luid: BigUint64Array, guid: Guid) => number;
  ConvertInterfaceLuidToAlias: (luid: BigUint64Array, alias: Uint16Array, length: number) => number;
  ConvertInterfaceLuidToIndex: (luid: BigUint64Array, index: Uint32Array) => number;
  /** Absent before Windows 10 2004 (build 19041): then the registry (dns_windows.ts). */
  SetInterfaceDnsSettings: ((guid: Guid, settings: DnsInterfaceSettings) => number) | null;
  NotifyRouteChange2: (
    family: number,
    callback: Pointer,
    context: Pointer,
    initial: number,
    handle: BigUint64Array,
  ) => number;
  NotifyUnicastIpAddressChange: (
    family: number,
    callback: Pointer,
    context: Pointer,
    initial: number,
    handle: BigUint64Array,
  ) => number;
  CancelMibChangeNotify2: (handle: Pointer) => number;
}

let loaded: Iphlpapi | undefined;

export function iphlpapi(): Iphlpapi {
  if (loaded) return loaded;
  const lib: LibraryHandle = koffi.load('iphlpapi.dll');
  const f = (definition: string) => lib.func(definition);
  let setDns: Iphlpapi['SetInterfaceDnsSettings'] = null;
  try {
    setDns = f(
      'uint32 __stdcall SetInterfaceDnsSettings(GUID iface, const DNS_INTERFACE_SETTINGS *settings)',
    );
  } catch {
    // Older Windows: the registry fallback.
  }
  void GUID;
  loaded = {
    InitializeUnicastIpAddressEntry: f(
      'void __stdcall InitializeUnicastIpAddressEntry(_Inout_ MIB_UNICASTIPADDRESS_ROW *row)',
    ),
    CreateUnicastIpAddressEntry: f(
      'uint32 __stdcall CreateUnicastIpAddressEntry(const MIB_UNICASTIPADDRESS_ROW *row)',
    ),
    DeleteUnicastIpAddressEntry: f(
      'uint32 __stdcall DeleteUnicastIpAddressEntry(const MIB_UNICASTIPADDRESS_ROW *row)',
    ),
    GetUnicastIpAddressTable: f('uint32 __stdcall GetUnicastIpAddressTable(uint16 family, uint64_t *table)'),
    InitializeIpForwardEntry: f('void __stdcall InitializeIpForwardEntry(_Inout_ MIB_IPFORWARD_ROW2 *row)'),
    CreateIpForwardEntry2: f('uint32 __stdcall CreateIpForwardEntry2(const MIB_IPFORWARD_ROW2 *row)'),
    DeleteIpForwardEntry2: f('uint32 __stdcall DeleteIpForwardEntry2(const MIB_IPFORWARD_ROW2 *row)'),
    GetIpForwardTable2: f('uint32 __stdcall GetIpForwardTable2(uint16 family, uint64_t *table)'),
    InitializeIpInterfaceEntry: f(
      'void __stdcall InitializeIpInterfaceEntry(_Inout_ MIB_IPINTERFACE_ROW *row)',
    ),
    GetIpInterfaceEntry: f('uint32 __stdcall GetIpInterfaceEntry(_Inout_ MIB_IPINTERFACE_ROW *row)'),
    SetIpInterfaceEntry: f('uint32 __stdcall SetIpInterfaceEntry(MIB_IPINTERFACE_ROW *row)'),
    FreeMibTable: f('void __stdcall FreeMibTable(void *table)'),
    ConvertInterfaceAliasToLuid: f(
      'uint32 __stdcall ConvertInterfaceAliasToLuid(str16 alias, uint64_t *luid)',
    ),
    ConvertInterfaceLuidToGuid: f(
      'uint32 __stdcall ConvertInterfaceLuidToGuid(const uint64_t *luid, _Out_ GUID *guid)',
    ),
    ConvertInterfaceLuidToAlias: f(
      'uint32 __stdcall ConvertInterfaceLuidToAlias(const uint64_t *luid, uint16_t *alias, size_t length)',
    ),
    ConvertInterfaceLuidToIndex: f(
      'uint32 __stdcall ConvertInterfaceLuidToIndex(const uint64_t *luid, uint32_t *index)',
    ),
    SetInterfaceDnsSettings: setDns,
    NotifyRouteChange2: f(
      'uint32 __stdcall NotifyRouteChange2(uint16 family, void *callback, void *context, uint8 initial, uint64_t *handle)',
    ),
    NotifyUnicastIpAddressChange: f(
      'uint32 __stdcall NotifyUnicastIpAddressChange(uint16 family, void *callback, void *context, uint8 initial, ' +
        'uint64_t *handle)',
    ),
    CancelMibChangeNotify2: f('uint32 __stdcall CancelMibChangeNotify2(void *handle)'),
  };
  return loaded;
}

/** The rows of a MIB table that Get...Table2 returned (then freed), decoded as `row`. */
export function readMibTable<T>(table: Pointer, row: TypeObject): T[] {
  const count = koffi.decode(table, 'uint32') as number;
  const size = koffi.sizeof(row);
  const rows: T[] = [];
  for (let i = 0; i < count; i++) rows.push(koffi.decode(table, TABLE_ROWS_OFFSET + i * size, row) as T);
  return rows;
}
