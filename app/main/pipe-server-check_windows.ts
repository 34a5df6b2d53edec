// The app's Windows calls, through koffi (loaded only on Windows: the Linux and macOS packages carry
// no koffi; electron-builder.yml's win.files adds it and its win32-x64 binary for Windows):
//
// - the control pipe opened by hand and its server checked before anything is sent, as the CLI does
//   (helper/src/control/pipe-server-check_windows.ts, which the app may not import; the decision is
//   shared/src/control/pipe-server-check.ts): the instance's server process must run as LocalSystem by
//   its token, or, when that token is closed to the user, be the PhantomMeshHelper service's own
//   LocalSystem process by the SCM; the handle then goes to node:net through libuv's
//   uv_open_osfhandle, which Electron exports for native modules;
// - the helper service's state for the "service missing or stopped" message (windows-helper.ts);
// - whether the taskbar is light (SystemUsesLightTheme), for the tray icon's variant.
//
// Written on Linux and type-checked there: never run on Windows yet.
//
// Kept apart on purpose: the koffi declarations and the calls on them (CreateFileW, WaitNamedPipeW,
// the token and SCM queries, uv_open_osfhandle) repeat helper/src/control/pipe-server-check_windows.ts.
// The app may not import helper internals (lint), and shared/ stays koffi-free (koffi ships in the
// Windows app only, loaded here on demand). Everything OS-free is shared: the decision and the
// open-and-wait loop, in shared/src/control/pipe-server-check.ts.

import { Socket } from 'node:net';
import type { LibraryHandle } from 'koffi';
import { PhantomError } from '../../shared/src/errors.ts';
import {
  HELPER_SERVICE_NAME,
  openCheckedPipe,
  openPipeClient,
  PIPE_ACCESS,
  PIPE_DISPOSITION,
  PIPE_FLAGS,
  type PipeNatives,
  type ProcessUser,
  type ServiceProcess,
} from '../../shared/src/control/pipe-server-check.ts';
import type { HelperServiceState } from './windows-helper.ts';

type Pointer = bigint;

const ERROR_SERVICE_DOES_NOT_EXIST = 1060;
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const TOKEN_QUERY = 0x8;
const TOKEN_USER = 1;
const SC_MANAGER_CONNECT = 0x1;
const SERVICE_QUERY_CONFIG = 0x1;
const SERVICE_QUERY_STATUS = 0x4;
const SC_STATUS_PROCESS_INFO = 0;
const SERVICE_RUNNING = 4;
const HKEY_CURRENT_USER = 0xffffffff80000001n;
const RRF_RT_REG_DWORD = 0x10;
const PERSONALIZE = 'Software\\Microsoft\\Windows\\CurrentVersion\\Themes\\Personalize';
const INVALID_HANDLE_VALUE = 0xffffffffffffffffn;

interface Calls {
  GetLastError: () => number;
  CloseHandle: (handle: Pointer) => number;
  LocalFree: (memory: Pointer) => Pointer;
  lstrlenW: (text: Pointer) => number;
  RtlMoveMemory: (destination: Uint8Array, source: Pointer, length: number) => void;
  CreateFileW: (
    name: string,
    access: number,
    share: number,
    attributes: null,
    disposition: number,
    flags: number,
    template: null,
  ) => Pointer;
  WaitNamedPipeW: {
    async: (name: string, ms: number, callback: (error: unknown, ok: number) => void) => void;
  };
  GetNamedPipeServerProcessId: (pipe: Pointer, pid: Uint32Array) => number;
  OpenProcess: (access: number, inherit: number, pid: number) => Pointer;
  OpenProcessToken: (process: Pointer, access: number, token: BigUint64Array) => number;
  GetTokenInformation: (
    token: Pointer,
    infoClass: number,
    info: Uint8Array,
    size: number,
    needed: Uint32Array,
  ) => number;
  ConvertSidToStringSidW: (sid: Pointer, out: BigUint64Array) => number;
  OpenSCManagerW: (machine: string | null, database: string | null, access: number) => Pointer;
  OpenServiceW: (manager: Pointer, name: string, access: number) => Pointer;
  QueryServiceStatusEx: (
    service: Pointer,
    level: number,
    buffer: Uint8Array,
    size: number,
    needed: Uint32Array,
  ) => number;
  QueryServiceConfigW: (service: Pointer, buffer: Uint8Array, size: number, needed: Uint32Array) => number;
  CloseServiceHandle: (handle: Pointer) => number;
  RegGetValueW: (
    key: bigint,
    subKey: string,
    value: string,
    flags: number,
    type: null,
    data: Uint32Array,
    size: Uint32Array,
  ) => number;
  uv_open_osfhandle: (handle: Pointer) => number;
}

/** The app's Windows calls, once koffi is loaded (loadWindowsCalls). */
export interface WindowsCalls {
  /** connectHelper's openVerified: the control pipe, opened and its server checked. */
  openVerifiedPipe(path: string): Promise<Socket>;
  /** The helper service as the SCM describes it; null when the SCM cannot be asked. */
  helperServiceState(): HelperServiceState;
  /** Whether the taskbar (Windows mode, not app mode) is light; false when unknown (the default is dark). */
  taskbarIsLight(): boolean;
}

/** Loads koffi and declares the calls. Only on Windows. */
export async function loadWindowsCalls(): Promise<WindowsCalls> {
  const koffi = (await import('koffi')).default;
  const kernel = koffi.load('kernel32.dll');
  const advapi = koffi.load('advapi32.dll');
  // Electron's own executable: its libuv, for uv_open_osfhandle.
  const host = koffi.load(process.execPath);
  const f = (lib: LibraryHandle, definition: string) => lib.func(definition);
  const calls: Calls = {
    GetLastError: f(kernel, 'uint32 __stdcall GetLastError()'),
    CloseHandle: f(kernel, 'int __stdcall CloseHandle(void *handle)'),
    LocalFree: f(kernel, 'void * __stdcall LocalFree(void *memory)'),
    lstrlenW: f(kernel, 'int __stdcall lstrlenW(void *text)'),
    RtlMoveMemory: f(kernel, 'void __stdcall RtlMoveMemory(void *destination, void *source, size_t length)'),
    CreateFileW: f(
      kernel,
      'void * __stdcall CreateFileW(str16 name, uint32 access, uint32 share, void *attributes, ' +
        'uint32 disposition, uint32 flags, void *template)',
    ),
    WaitNamedPipeW: f(
      kernel,
      'int __stdcall WaitNamedPipeW(str16 name, uint32 ms)',
    ) as Calls['WaitNamedPipeW'],
    GetNamedPipeServerProcessId: f(
      kernel,
      'int __stdcall GetNamedPipeServerProcessId(void *pipe, uint32_t *pid)',
    ),
    OpenProcess: f(kernel, 'void * __stdcall OpenProcess(uint32 access, int inherit, uint32 pid)'),
    OpenProcessToken: f(
      advapi,
      'int __stdcall OpenProcessToken(void *process, uint32 access, uint64_t *token)',
    ),
    GetTokenInformation: f(
      advapi,
      'int __stdcall GetTokenInformation(void *token, uint32 infoClass, uint8_t *info, uint32 size, uint32_t *needed)',
    ),
    ConvertSidToStringSidW: f(advapi, 'int __stdcall ConvertSidToStringSidW(void *sid, uint64_t *out)'),
    OpenSCManagerW: f(
      advapi,
      'void * __stdcall OpenSCManagerW(str16 machine, str16 database, uint32 access)',
    ),
    OpenServiceW: f(advapi, 'void * __stdcall OpenServiceW(void *manager, str16 name, uint32 access)'),
    QueryServiceStatusEx: f(
      advapi,
      'int __stdcall QueryServiceStatusEx(void *service, int level, uint8_t *buffer, uint32 size, uint32_t *needed)',
    ),
    QueryServiceConfigW: f(
      advapi,
      'int __stdcall QueryServiceConfigW(void *service, uint8_t *buffer, uint32 size, uint32_t *needed)',
    ),
    CloseServiceHandle: f(advapi, 'int __stdcall CloseServiceHandle(void *handle)'),
    RegGetValueW: f(
      advapi,
      'int32 __stdcall RegGetValueW(uintptr_t key, str16 subKey, str16 value, uint32 flags, void *type, ' +
        'uint32_t *data, uint32_t *size)',
    ),
    uv_open_osfhandle: f(host, 'int uv_open_osfhandle(void *handle)'),
  };
  const configType = koffi.struct('PM_APP_QUERY_SERVICE_CONFIGW', {
    dwServiceType: 'uint32',
    dwStartType: 'uint32',
    dwErrorControl: 'uint32',
    lpBinaryPathName: 'str16',
    lpLoadOrderGroup: 'str16',
    dwTagId: 'uint32',
    lpDependencies: 'str16',
    lpServiceStartName: 'str16',
    lpDisplayName: 'str16',
  });
  const decodeConfig = (buffer: Uint8Array) =>
    koffi.decode(buffer, configType) as { dwStartType: number; lpServiceStartName: string | null };
  return windowsCalls(calls, decodeConfig);
}

function windowsCalls(
  calls: Calls,
  decodeConfig: (buffer: Uint8Array) => { dwStartType: number; lpServiceStartName: string | null },
): WindowsCalls {
  const failed = (handle: Pointer) => handle === 0n || handle === INVALID_HANDLE_VALUE;
  const error = (what: string) => `${what} failed (Windows error ${calls.GetLastError()})`;

  const sidText = (sid: Pointer): string => {
    const out = new BigUint64Array(1);
    if (!calls.ConvertSidToStringSidW(sid, out)) throw new Error(error('ConvertSidToStringSidW'));
    try {
      const length = calls.lstrlenW(out[0]!);
      const bytes = new Uint8Array(length * 2);
      calls.RtlMoveMemory(bytes, out[0]!, bytes.length);
      return Buffer.from(bytes).toString('utf16le');
    } finally {
      calls.LocalFree(out[0]!);
    }
  };

  const open = (path: string): Promise<Pointer> =>
    openPipeClient(path, {
      create(path) {
        const handle = calls.CreateFileW(path, PIPE_ACCESS, 0, null, PIPE_DISPOSITION, PIPE_FLAGS, null);
        return failed(handle) ? null : handle;
      },
      lastError: () => calls.GetLastError(),
      // Off the main thread: WaitNamedPipeW blocks until an instance is free or the time is up.
      wait: (path, ms) =>
        new Promise<void>((resolve) => calls.WaitNamedPipeW.async(path, ms, () => resolve())),
      describe: (code) => ` (Windows error ${code})`,
    });

  const processUser = (pid: number): ProcessUser => {
    const process = calls.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
    if (failed(process)) return { unreadable: error('OpenProcess') };
    try {
      const tokenOut = new BigUint64Array(1);
      if (!calls.OpenProcessToken(process, TOKEN_QUERY, tokenOut))
        return { unreadable: error('OpenProcessToken') };
      try {
        const info = new Uint8Array(256);
        const needed = new Uint32Array(1);
        if (!calls.GetTokenInformation(tokenOut[0]!, TOKEN_USER, info, info.length, needed))
          return { unreadable: error('GetTokenInformation') };
        // TOKEN_USER { SID_AND_ATTRIBUTES { PSID Sid; DWORD Attributes } }: the SID pointer is first.
        return { sid: sidText(new DataView(info.buffer).getBigUint64(0, true)) };
      } finally {
        calls.CloseHandle(tokenOut[0]!);
      }
    } finally {
      calls.CloseHandle(process);
    }
  };

  /** The service's status (state at 4, process id at 28) and configuration, or why not. */
  const queryService = ():
    { missing: true } | { state: number; pid: number; startType: number; account: string } | null => {
    const manager = calls.OpenSCManagerW(null, null, SC_MANAGER_CONNECT);
    if (manager === 0n) return null;
    try {
      const service = calls.OpenServiceW(
        manager,
        HELPER_SERVICE_NAME,
        SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG,
      );
      if (service === 0n)
        return calls.GetLastError() === ERROR_SERVICE_DOES_NOT_EXIST ? { missing: true } : null;
      try {
        const status = new Uint8Array(36);
        const needed = new Uint32Array(1);
        if (!calls.QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, status, status.length, needed))
          return null;
        const config = new Uint8Array(8192);
        if (!calls.QueryServiceConfigW(service, config, config.length, needed)) return null;
        const decoded = decodeConfig(config);
        const view = new DataView(status.buffer);
        return {
          state: view.getUint32(4, true),
          pid: view.getUint32(28, true),
          startType: decoded.dwStartType,
          account: decoded.lpServiceStartName ?? '',
        };
      } finally {
        calls.CloseServiceHandle(service);
      }
    } finally {
      calls.CloseServiceHandle(manager);
    }
  };

  const helperService = (): ServiceProcess | null => {
    const service = queryService();
    if (service === null || 'missing' in service || service.state !== SERVICE_RUNNING) return null;
    return { pid: service.pid, account: service.account };
  };

  const natives: PipeNatives<Pointer, Socket> = {
    open,
    serverProcessId(handle) {
      const pid = new Uint32Array(1);
      return calls.GetNamedPipeServerProcessId(handle, pid) ? pid[0]! : 0;
    },
    processUser,
    helperService,
    close: (handle) => void calls.CloseHandle(handle),
    adopt(handle) {
      const fd = calls.uv_open_osfhandle(handle);
      if (fd < 0) {
        calls.CloseHandle(handle);
        throw new PhantomError(
          'HELPER_UNAVAILABLE',
          'cannot hand the control pipe to Node (uv_open_osfhandle)',
        );
      }
      // The descriptor owns the handle from here: closing the socket closes both.
      return new Socket({ fd, readable: true, writable: true });
    },
  };

  return {
    openVerifiedPipe: (path) => openCheckedPipe(path, natives),
    helperServiceState() {
      try {
        const service = queryService();
        if (service === null) return null;
        if ('missing' in service) return { installed: false };
        return { installed: true, state: service.state, startType: service.startType };
      } catch {
        return null;
      }
    },
    taskbarIsLight() {
      try {
        const data = new Uint32Array(1);
        const size = new Uint32Array([4]);
        const status = calls.RegGetValueW(
          HKEY_CURRENT_USER,
          PERSONALIZE,
          'SystemUsesLightTheme',
          RRF_RT_REG_DWORD,
          null,
          data,
          size,
        );
        return status === 0 && data[0] === 1;
      } catch {
        return false;
      }
    },
  };
}
