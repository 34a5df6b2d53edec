// The `phantommesh` CLI's side of the control pipe on Windows: it opens \\.\pipe\phantommesh itself
// (CreateFileW), asks who serves this instance (GetNamedPipeServerProcessId), checks that the server
// runs as LocalSystem (OpenProcess, OpenProcessToken, GetTokenInformation(TokenUser)), or, when that
// token is closed to the caller, that it is the PhantomMeshHelper service's own process running as
// LocalSystem (the SCM), and only then hands the handle to node:net. The decision is
// shared/src/control/pipe-server-check.ts (unit-tested on Linux); the app has the same calls in
// app/main/pipe-server-check_windows.ts (it may not import the helper). Reached through the seam
// control/peercred.ts (controlServerCheck). Written on Linux: never run on Windows yet.
//
// Kept apart on purpose: the koffi declarations and the calls on them repeat the app's
// (app/main/pipe-server-check_windows.ts), which may not import helper internals (lint), while shared/
// stays koffi-free (koffi ships in the Windows app only). Everything OS-free is shared: the decision
// and the open-and-wait loop, in shared/src/control/pipe-server-check.ts.
//
// Handing over: Node's pipe client gives no handle to check, and net.Socket takes a C runtime file
// descriptor, not a HANDLE. uv_open_osfhandle (libuv, exported by node.exe and by Electron for native
// modules) makes one in the C runtime libuv itself uses, so net.Socket({ fd }) wraps our handle:
// uv_pipe_open sees it overlapped and puts it on the event loop's completion port.
//
// The pipe is opened with SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION: the helper can still read
// the client's token (identification is enough for OpenThreadToken and CheckTokenMembership), but a
// server that is not the helper could never act as the user, even during the moment before it is refused.

import { Socket } from 'node:net';
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { PhantomError } from '../../../shared/src/errors.ts';
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
} from '../../../shared/src/control/pipe-server-check.ts';
import { advapi32, TOKEN_QUERY, TokenUser } from '../advapi32_windows.ts';
import { kernel32, win32Message, type Pointer } from '../kernel32_windows.ts';
import { sidText } from './peercred_windows.ts';

const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
const SC_MANAGER_CONNECT = 0x1;
const SERVICE_QUERY_CONFIG = 0x1;
const SERVICE_QUERY_STATUS = 0x4;
const SC_STATUS_PROCESS_INFO = 0;
const SERVICE_RUNNING = 4;
const INVALID_HANDLE_VALUE = 0xffffffffffffffffn;

/** QUERY_SERVICE_CONFIGW: the strings point into the buffer that holds it. */
const QUERY_SERVICE_CONFIGW: TypeObject = koffi.struct('PM_QUERY_SERVICE_CONFIGW', {
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

interface Natives {
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
  uv_open_osfhandle: (handle: Pointer) => number;
}

let loaded: Natives | undefined;

function natives(): Natives {
  if (loaded) return loaded;
  const kernel: LibraryHandle = koffi.load('kernel32.dll');
  const advapi: LibraryHandle = koffi.load('advapi32.dll');
  // node.exe itself: its libuv, for uv_open_osfhandle.
  const host: LibraryHandle = koffi.load(process.execPath);
  loaded = {
    CreateFileW: kernel.func(
      'void * __stdcall CreateFileW(str16 name, uint32 access, uint32 share, void *attributes, ' +
        'uint32 disposition, uint32 flags, void *template)',
    ),
    WaitNamedPipeW: kernel.func(
      'int __stdcall WaitNamedPipeW(str16 name, uint32 ms)',
    ) as Natives['WaitNamedPipeW'],
    GetNamedPipeServerProcessId: kernel.func(
      'int __stdcall GetNamedPipeServerProcessId(void *pipe, uint32_t *pid)',
    ),
    OpenProcess: kernel.func('void * __stdcall OpenProcess(uint32 access, int inherit, uint32 pid)'),
    OpenSCManagerW: advapi.func(
      'void * __stdcall OpenSCManagerW(str16 machine, str16 database, uint32 access)',
    ),
    OpenServiceW: advapi.func('void * __stdcall OpenServiceW(void *manager, str16 name, uint32 access)'),
    QueryServiceStatusEx: advapi.func(
      'int __stdcall QueryServiceStatusEx(void *service, int level, uint8_t *buffer, uint32 size, ' +
        'uint32_t *needed)',
    ),
    QueryServiceConfigW: advapi.func(
      'int __stdcall QueryServiceConfigW(void *service, uint8_t *buffer, uint32 size, uint32_t *needed)',
    ),
    CloseServiceHandle: advapi.func('int __stdcall CloseServiceHandle(void *handle)'),
    uv_open_osfhandle: host.func('int uv_open_osfhandle(void *handle)'),
  };
  return loaded;
}

const failed = (handle: Pointer) => handle === 0n || handle === INVALID_HANDLE_VALUE;

function waitForInstance(path: string, ms: number): Promise<void> {
  // Off the event loop: WaitNamedPipeW blocks until an instance is free or the time is up.
  return new Promise((resolve) => natives().WaitNamedPipeW.async(path, ms, () => resolve()));
}

function openPipe(path: string): Promise<Pointer> {
  return openPipeClient(path, {
    create(path) {
      const handle = natives().CreateFileW(path, PIPE_ACCESS, 0, null, PIPE_DISPOSITION, PIPE_FLAGS, null);
      return failed(handle) ? null : handle;
    },
    lastError: () => kernel32().GetLastError(),
    wait: waitForInstance,
    describe: (code) => `: ${win32Message(code)}`,
  });
}

function processUser(pid: number): ProcessUser {
  const k = kernel32();
  const a = advapi32();
  const process = natives().OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
  if (failed(process)) return { unreadable: `OpenProcess: ${win32Message(k.GetLastError())}` };
  try {
    const tokenOut = new BigUint64Array(1);
    if (!a.OpenProcessToken(process, TOKEN_QUERY, tokenOut))
      return { unreadable: `OpenProcessToken: ${win32Message(k.GetLastError())}` };
    const token = tokenOut[0]!;
    try {
      const info = new Uint8Array(256);
      const needed = new Uint32Array(1);
      if (!a.GetTokenInformation(token, TokenUser, info, info.length, needed))
        return { unreadable: `GetTokenInformation: ${win32Message(k.GetLastError())}` };
      // TOKEN_USER { SID_AND_ATTRIBUTES { PSID Sid; DWORD Attributes } }: the SID pointer is first.
      return { sid: sidText(new DataView(info.buffer).getBigUint64(0, true)) };
    } finally {
      k.CloseHandle(token);
    }
  } finally {
    k.CloseHandle(process);
  }
}

/** The helper service's process and account, from the SCM; null when it is not running or unknown. */
export function helperServiceProcess(): ServiceProcess | null {
  const n = natives();
  const manager = n.OpenSCManagerW(null, null, SC_MANAGER_CONNECT);
  if (manager === 0n) return null;
  try {
    const service = n.OpenServiceW(manager, HELPER_SERVICE_NAME, SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG);
    if (service === 0n) return null;
    try {
      const status = new Uint8Array(36);
      const needed = new Uint32Array(1);
      if (!n.QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, status, status.length, needed))
        return null;
      // SERVICE_STATUS_PROCESS: dwCurrentState at 4, dwProcessId at 28.
      const view = new DataView(status.buffer);
      if (view.getUint32(4, true) !== SERVICE_RUNNING) return null;
      const config = new Uint8Array(8192);
      if (!n.QueryServiceConfigW(service, config, config.length, needed)) return null;
      const decoded = koffi.decode(config, QUERY_SERVICE_CONFIGW) as { lpServiceStartName: string | null };
      return { pid: view.getUint32(28, true), account: decoded.lpServiceStartName ?? '' };
    } finally {
      n.CloseServiceHandle(service);
    }
  } finally {
    n.CloseServiceHandle(manager);
  }
}

function adopt(handle: Pointer): Socket {
  const fd = natives().uv_open_osfhandle(handle);
  if (fd < 0) {
    kernel32().CloseHandle(handle);
    throw new PhantomError('HELPER_UNAVAILABLE', 'cannot hand the control pipe to Node (uv_open_osfhandle)');
  }
  // The descriptor owns the handle from here: closing the socket closes both.
  return new Socket({ fd, readable: true, writable: true });
}

const WINDOWS_PIPE: PipeNatives<Pointer, Socket> = {
  open: openPipe,
  serverProcessId(handle) {
    const pid = new Uint32Array(1);
    return natives().GetNamedPipeServerProcessId(handle, pid) ? pid[0]! : 0;
  },
  processUser,
  helperService: helperServiceProcess,
  close: (handle) => void kernel32().CloseHandle(handle),
  adopt,
};

/** connectHelper's `openVerified` on Windows: the pipe, opened and checked (see above). */
export function openVerifiedPipe(path: string): Promise<Socket> {
  return openCheckedPipe(path, WINDOWS_PIPE);
}
