// fwpuclnt (the Windows Filtering Platform's management API) through koffi: the engine, transactions,
// our provider and sublayer, filters added, enumerated and deleted. Declared once, loaded on first
// use. The structs are those of fwpmtypes.h / fwptypes.h on 64-bit Windows; the unions whose members
// are all pointers or small integers are declared as such (the unit tests check the sizes: 200 bytes
// for FWPM_FILTER0, 40 for FWPM_FILTER_CONDITION0).

import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { GUID, type Pointer } from './kernel32_windows.ts';

export const RPC_C_AUTHN_WINNT = 10;
export const FWP_E_FILTER_NOT_FOUND = 0x80320003;
export const FWP_E_PROVIDER_NOT_FOUND = 0x80320005;
export const FWP_E_SUBLAYER_NOT_FOUND = 0x80320007;
export const FWP_E_ALREADY_EXISTS = 0x80320009;
export const FWP_E_IN_USE = 0x8032000a;

export const FWPM_PROVIDER_FLAG_PERSISTENT = 0x1;
export const FWPM_SUBLAYER_FLAG_PERSISTENT = 0x1;
export const FWPM_FILTER_FLAG_PERSISTENT = 0x1;

/** FWP_DATA_TYPE */
export const FWP_EMPTY = 0;
export const FWP_UINT8 = 1;
export const FWP_UINT16 = 2;
export const FWP_UINT32 = 3;
export const FWP_UINT64 = 4;
export const FWP_BYTE_ARRAY16_TYPE = 11;
export const FWP_BYTE_BLOB_TYPE = 12;
export const FWP_SECURITY_DESCRIPTOR_TYPE = 14;
export const FWP_V4_ADDR_MASK = 0x100;
export const FWP_V6_ADDR_MASK = 0x101;
/** FWP_MATCH_TYPE */
export const FWP_MATCH_EQUAL = 0;
export const FWP_MATCH_FLAGS_ALL_SET = 6;
/** FWP_ACTION_TYPE */
export const FWP_ACTION_BLOCK = 0x1001;
export const FWP_ACTION_PERMIT = 0x1002;
export const FWP_CONDITION_FLAG_IS_LOOPBACK = 0x1;
/** The right a security-descriptor condition (FWPM_CONDITION_ALE_USER_ID) checks the token for. */
export const FWP_ACTRL_MATCH_FILTER = 0x1;

export const FWPM_DISPLAY_DATA0: TypeObject = koffi.struct('FWPM_DISPLAY_DATA0', {
  name: 'str16',
  description: 'str16',
});

export const FWP_BYTE_BLOB: TypeObject = koffi.struct('FWP_BYTE_BLOB', {
  size: 'uint32',
  data: 'void *',
});

export const FWP_BYTE_ARRAY16: TypeObject = koffi.struct('FWP_BYTE_ARRAY16', {
  byteArray16: koffi.array('uint8', 16),
});

export const FWP_V4_ADDR_AND_MASK: TypeObject = koffi.struct('FWP_V4_ADDR_AND_MASK', {
  addr: 'uint32',
  mask: 'uint32',
});

export const FWP_V6_ADDR_AND_MASK: TypeObject = koffi.struct('FWP_V6_ADDR_AND_MASK', {
  addr: koffi.array('uint8', 16),
  prefixLength: 'uint8',
});

/** The value union of FWP_VALUE0 and FWP_CONDITION_VALUE0: small integers in place, the rest by pointer. */
export const FWP_VALUE_UNION: TypeObject = koffi.union('FWP_VALUE_UNION', {
  uint8: 'uint8',
  uint16: 'uint16',
  uint32: 'uint32',
  uint64: koffi.pointer('uint64'),
  byteArray16: koffi.pointer(FWP_BYTE_ARRAY16),
  byteBlob: koffi.pointer(FWP_BYTE_BLOB),
  /** A self-relative SECURITY_DESCRIPTOR, in an FWP_BYTE_BLOB. */
  sd: koffi.pointer(FWP_BYTE_BLOB),
  v4AddrMask: koffi.pointer(FWP_V4_ADDR_AND_MASK),
  v6AddrMask: koffi.pointer(FWP_V6_ADDR_AND_MASK),
  pointer: 'void *',
});

export const FWP_VALUE0: TypeObject = koffi.struct('FWP_VALUE0', {
  type: 'uint32',
  value: FWP_VALUE_UNION,
});

export const FWPM_FILTER_CONDITION0: TypeObject = koffi.struct('FWPM_FILTER_CONDITION0', {
  fieldKey: GUID,
  matchType: 'uint32',
  conditionValue: FWP_VALUE0,
});

export const FWPM_ACTION0: TypeObject = koffi.struct('FWPM_ACTION0', {
  type: 'uint32',
  filterType: GUID,
});

export const FWPM_FILTER_CONTEXT: TypeObject = koffi.union('FWPM_FILTER_CONTEXT', {
  rawContext: 'uint64',
  providerContextKey: GUID,
});

export const FWPM_FILTER0: TypeObject = koffi.struct('FWPM_FILTER0', {
  filterKey: GUID,
  displayData: FWPM_DISPLAY_DATA0,
  flags: 'uint32',
  providerKey: koffi.pointer(GUID),
  providerData: FWP_BYTE_BLOB,
  layerKey: GUID,
  subLayerKey: GUID,
  weight: FWP_VALUE0,
  numFilterConditions: 'uint32',
  filterCondition: koffi.pointer(FWPM_FILTER_CONDITION0),
  action: FWPM_ACTION0,
  context: FWPM_FILTER_CONTEXT,
  reserved: 'void *',
  filterId: 'uint64',
  effectiveWeight: FWP_VALUE0,
});

export const FWPM_PROVIDER0: TypeObject = koffi.struct('FWPM_PROVIDER0', {
  providerKey: GUID,
  displayData: FWPM_DISPLAY_DATA0,
  flags: 'uint32',
  providerData: FWP_BYTE_BLOB,
  serviceName: 'str16',
});

export const FWPM_SUBLAYER0: TypeObject = koffi.struct('FWPM_SUBLAYER0', {
  subLayerKey: GUID,
  displayData: FWPM_DISPLAY_DATA0,
  flags: 'uint32',
  providerKey: koffi.pointer(GUID),
  providerData: FWP_BYTE_BLOB,
  weight: 'uint16',
});

export const FWPM_SESSION0: TypeObject = koffi.struct('FWPM_SESSION0', {
  sessionKey: GUID,
  displayData: FWPM_DISPLAY_DATA0,
  flags: 'uint32',
  txnWaitTimeoutInMSec: 'uint32',
  processId: 'uint32',
  sid: 'void *',
  username: 'str16',
  kernelMode: 'int',
});

export interface Fwpuclnt {
  FwpmEngineOpen0: (
    server: string | null,
    authn: number,
    identity: Pointer,
    session: object | null,
    engine: BigUint64Array,
  ) => number;
  FwpmEngineClose0: (engine: Pointer) => number;
  FwpmTransactionBegin0: (engine: Pointer, flags: number) => number;
  FwpmTransactionCommit0: (engine: Pointer) => number;
  FwpmTransactionAbort0: (engine: Pointer) => number;
  FwpmProviderAdd0: (engine: Pointer, provider: object, sd: Pointer) => number;
  FwpmProviderDeleteByKey0: (engine: Pointer, key: object) => number;
  FwpmSubLayerAdd0: (engine: Pointer, sublayer: object, sd: Pointer) => number;
  FwpmSubLayerDeleteByKey0: (engine: Pointer, key: object) => number;
  FwpmFilterAdd0: (engine: Pointer, filter: object, sd: Pointer, id: BigUint64Array) => number;
  FwpmFilterDeleteById0: (engine: Pointer, id: bigint) => number;
  FwpmFilterCreateEnumHandle0: (engine: Pointer, template: Pointer, handle: BigUint64Array) => number;
  FwpmFilterEnum0: (
    engine: Pointer,
    handle: Pointer,
    requested: number,
    entries: BigUint64Array,
    returned: Uint32Array,
  ) => number;
  FwpmFilterDestroyEnumHandle0: (engine: Pointer, handle: Pointer) => number;
  FwpmFreeMemory0: (pointer: BigUint64Array) => void;
}

let loaded: Fwpuclnt | undefined;

export function fwpuclnt(): Fwpuclnt {
  if (loaded) return loaded;
  const lib: LibraryHandle = koffi.load('fwpuclnt.dll');
  const f = (definition: string) => lib.func(definition);
  loaded = {
    FwpmEngineOpen0: f(
      'uint32 __stdcall FwpmEngineOpen0(str16 server, uint32 authn, void *identity, const FWPM_SESSION0 *session, ' +
        'uint64_t *engine)',
    ),
    FwpmEngineClose0: f('uint32 __stdcall FwpmEngineClose0(void *engine)'),
    FwpmTransactionBegin0: f('uint32 __stdcall FwpmTransactionBegin0(void *engine, uint32 flags)'),
    FwpmTransactionCommit0: f('uint32 __stdcall FwpmTransactionCommit0(void *engine)'),
    FwpmTransactionAbort0: f('uint32 __stdcall FwpmTransactionAbort0(void *engine)'),
    FwpmProviderAdd0: f(
      'uint32 __stdcall FwpmProviderAdd0(void *engine, const FWPM_PROVIDER0 *provider, void *sd)',
    ),
    FwpmProviderDeleteByKey0: f('uint32 __stdcall FwpmProviderDeleteByKey0(void *engine, const GUID *key)'),
    FwpmSubLayerAdd0: f(
      'uint32 __stdcall FwpmSubLayerAdd0(void *engine, const FWPM_SUBLAYER0 *sublayer, void *sd)',
    ),
    FwpmSubLayerDeleteByKey0: f('uint32 __stdcall FwpmSubLayerDeleteByKey0(void *engine, const GUID *key)'),
    FwpmFilterAdd0: f(
      'uint32 __stdcall FwpmFilterAdd0(void *engine, const FWPM_FILTER0 *filter, void *sd, uint64_t *id)',
    ),
    FwpmFilterDeleteById0: f('uint32 __stdcall FwpmFilterDeleteById0(void *engine, uint64 id)'),
    FwpmFilterCreateEnumHandle0: f(
      'uint32 __stdcall FwpmFilterCreateEnumHandle0(void *engine, void *template, uint64_t *handle)',
    ),
    FwpmFilterEnum0: f(
      'uint32 __stdcall FwpmFilterEnum0(void *engine, void *handle, uint32 requested, uint64_t *entries, ' +
        'uint32_t *returned)',
    ),
    FwpmFilterDestroyEnumHandle0: f(
      'uint32 __stdcall FwpmFilterDestroyEnumHandle0(void *engine, void *handle)',
    ),
    FwpmFreeMemory0: f('void __stdcall FwpmFreeMemory0(uint64_t *pointer)'),
  };
  return loaded;
}
