// advapi32 through koffi: security descriptors from SDDL, access tokens and group membership, SIDs,
// the service control manager's handshake, and the registry values the DNS fallback writes. Declared
// once, loaded on first use (see kernel32_windows.ts).

import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import type { Pointer } from './kernel32_windows.ts';

export const SDDL_REVISION_1 = 1;
export const TOKEN_QUERY = 0x0008;
/** TOKEN_INFORMATION_CLASS */
export const TokenUser = 1;
export const TokenElevation = 20;
export const SE_FILE_OBJECT = 1;
export const DACL_SECURITY_INFORMATION = 0x4;
export const OWNER_SECURITY_INFORMATION = 0x1;
export const PROTECTED_DACL_SECURITY_INFORMATION = 0x80000000;
export const HKEY_LOCAL_MACHINE = 0xffffffff80000002n;
export const REG_SZ = 1;
export const REG_MULTI_SZ = 7;

/** SERVICE_STATUS (7 u32s). */
export const SERVICE_STATUS: TypeObject = koffi.struct('SERVICE_STATUS', {
  dwServiceType: 'uint32',
  dwCurrentState: 'uint32',
  dwControlsAccepted: 'uint32',
  dwWin32ExitCode: 'uint32',
  dwServiceSpecificExitCode: 'uint32',
  dwCheckPoint: 'uint32',
  dwWaitHint: 'uint32',
});

/** SERVICE_TABLE_ENTRYW: the name and ServiceMain; the table ends with a NULL entry. */
export const SERVICE_TABLE_ENTRYW: TypeObject = koffi.struct('SERVICE_TABLE_ENTRYW', {
  lpServiceName: 'str16',
  lpServiceProc: 'void *',
});

/** void WINAPI ServiceMain(DWORD argc, LPWSTR *argv) */
export const ServiceMainProc: TypeObject = koffi.proto(
  'void __stdcall PhantomServiceMain(uint32 argc, void *argv)',
);
/** DWORD WINAPI HandlerEx(DWORD control, DWORD eventType, LPVOID eventData, LPVOID context) */
export const HandlerExProc: TypeObject = koffi.proto(
  'uint32 __stdcall PhantomServiceHandler(uint32 control, uint32 eventType, void *eventData, void *context)',
);

export interface ServiceStatus {
  dwServiceType: number;
  dwCurrentState: number;
  dwControlsAccepted: number;
  dwWin32ExitCode: number;
  dwServiceSpecificExitCode: number;
  dwCheckPoint: number;
  dwWaitHint: number;
}

export interface Advapi32 {
  ConvertStringSecurityDescriptorToSecurityDescriptorW: (
    sddl: string,
    revision: number,
    descriptor: BigUint64Array,
    size: Pointer,
  ) => number;
  GetSecurityDescriptorLength: (sd: Pointer) => number;
  ConvertStringSidToSidW: (sid: string, out: BigUint64Array) => number;
  ConvertSidToStringSidW: (sid: Pointer, out: BigUint64Array) => number;
  LookupAccountNameW: (
    system: string | null,
    account: string,
    sid: Uint8Array,
    sidSize: Uint32Array,
    domain: Uint16Array,
    domainSize: Uint32Array,
    use: Uint32Array,
  ) => number;
  OpenProcessToken: (process: Pointer, access: number, token: BigUint64Array) => number;
  OpenThreadToken: (thread: Pointer, access: number, openAsSelf: number, token: BigUint64Array) => number;
  RevertToSelf: () => number;
  GetTokenInformation: (
    token: Pointer,
    infoClass: number,
    info: Uint8Array,
    size: number,
    needed: Uint32Array,
  ) => number;
  CheckTokenMembership: (token: Pointer, sid: Uint8Array, isMember: Int32Array) => number;
  SetNamedSecurityInfoW: (
    name: string,
    objectType: number,
    info: number,
    owner: Pointer,
    group: Pointer,
    dacl: Pointer,
    sacl: Pointer,
  ) => number;
  GetSecurityDescriptorDacl: (
    sd: Pointer,
    present: Int32Array,
    dacl: BigUint64Array,
    defaulted: Int32Array,
  ) => number;
  GetSecurityDescriptorOwner: (sd: Pointer, owner: BigUint64Array, defaulted: Int32Array) => number;
  StartServiceCtrlDispatcherW: ((table: unknown[]) => number) & {
    async: (table: unknown[], callback: (error: unknown, result: number) => void) => void;
  };
  RegisterServiceCtrlHandlerExW: (name: string, handler: Pointer, context: Pointer) => Pointer;
  SetServiceStatus: (handle: Pointer, status: ServiceStatus) => number;
  RegSetKeyValueW: (
    key: bigint,
    subKey: string,
    valueName: string,
    type: number,
    data: Uint8Array,
    size: number,
  ) => number;
  RegGetValueW: (
    key: bigint,
    subKey: string,
    valueName: string,
    flags: number,
    type: Uint32Array,
    data: Uint8Array | null,
    size: Uint32Array,
  ) => number;
  RegDeleteKeyValueW: (key: bigint, subKey: string, valueName: string) => number;
}

let loaded: Advapi32 | undefined;

export function advapi32(): Advapi32 {
  if (loaded) return loaded;
  const lib: LibraryHandle = koffi.load('advapi32.dll');
  const f = (definition: string) => lib.func(definition);
  loaded = {
    ConvertStringSecurityDescriptorToSecurityDescriptorW: f(
      'int __stdcall ConvertStringSecurityDescriptorToSecurityDescriptorW(str16 sddl, uint32 revision, ' +
        'uint64_t *descriptor, void *size)',
    ),
    GetSecurityDescriptorLength: f('uint32 __stdcall GetSecurityDescriptorLength(void *sd)'),
    ConvertStringSidToSidW: f('int __stdcall ConvertStringSidToSidW(str16 sid, uint64_t *out)'),
    ConvertSidToStringSidW: f('int __stdcall ConvertSidToStringSidW(void *sid, uint64_t *out)'),
    LookupAccountNameW: f(
      'int __stdcall LookupAccountNameW(str16 system, str16 account, uint8_t *sid, uint32_t *sidSize, ' +
        'uint16_t *domain, uint32_t *domainSize, uint32_t *use)',
    ),
    OpenProcessToken: f('int __stdcall OpenProcessToken(void *process, uint32 access, uint64_t *token)'),
    OpenThreadToken: f(
      'int __stdcall OpenThreadToken(void *thread, uint32 access, int openAsSelf, uint64_t *token)',
    ),
    RevertToSelf: f('int __stdcall RevertToSelf()'),
    GetTokenInformation: f(
      'int __stdcall GetTokenInformation(void *token, uint32 infoClass, uint8_t *info, uint32 size, uint32_t *needed)',
    ),
    CheckTokenMembership: f(
      'int __stdcall CheckTokenMembership(void *token, uint8_t *sid, int32_t *isMember)',
    ),
    SetNamedSecurityInfoW: f(
      'uint32 __stdcall SetNamedSecurityInfoW(str16 name, uint32 objectType, uint32 info, void *owner, ' +
        'void *group, void *dacl, void *sacl)',
    ),
    GetSecurityDescriptorDacl: f(
      'int __stdcall GetSecurityDescriptorDacl(void *sd, int32_t *present, uint64_t *dacl, int32_t *defaulted)',
    ),
    GetSecurityDescriptorOwner: f(
      'int __stdcall GetSecurityDescriptorOwner(void *sd, uint64_t *owner, int32_t *defaulted)',
    ),
    StartServiceCtrlDispatcherW: f(
      'int __stdcall StartServiceCtrlDispatcherW(const SERVICE_TABLE_ENTRYW *table)',
    ) as Advapi32['StartServiceCtrlDispatcherW'],
    RegisterServiceCtrlHandlerExW: f(
      'void * __stdcall RegisterServiceCtrlHandlerExW(str16 name, void *handler, void *context)',
    ),
    SetServiceStatus: f('int __stdcall SetServiceStatus(void *handle, const SERVICE_STATUS *status)'),
    RegSetKeyValueW: f(
      'int32 __stdcall RegSetKeyValueW(uintptr_t key, str16 subKey, str16 valueName, uint32 type, ' +
        'const uint8_t *data, uint32 size)',
    ),
    RegGetValueW: f(
      'int32 __stdcall RegGetValueW(uintptr_t key, str16 subKey, str16 valueName, uint32 flags, ' +
        'uint32_t *type, uint8_t *data, uint32_t *size)',
    ),
    RegDeleteKeyValueW: f('int32 __stdcall RegDeleteKeyValueW(uintptr_t key, str16 subKey, str16 valueName)'),
  };
  return loaded;
}
