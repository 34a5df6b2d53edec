// kernel32 through koffi: every kernel32 function the Windows files call, declared once, as
// libc_linux.ts does for Linux. Loaded on first use, so that importing a module that uses it works on
// every OS (the unit tests check the struct layouts on Linux); only _windows modules call kernel32().

import koffi, { type LibraryHandle, type TypeObject } from 'koffi';

export const INVALID_HANDLE_VALUE = 0xffffffffffffffffn;
export const INFINITE = 0xffffffff;
export const WAIT_OBJECT_0 = 0;
export const WAIT_TIMEOUT = 258;
export const WAIT_FAILED = 0xffffffff;

export const ERROR_SUCCESS = 0;
export const ERROR_FILE_NOT_FOUND = 2;
export const ERROR_ACCESS_DENIED = 5;
export const ERROR_INVALID_HANDLE = 6;
export const ERROR_NOT_ENOUGH_MEMORY = 8;
export const ERROR_HANDLE_EOF = 38;
export const ERROR_INVALID_PARAMETER = 87;
export const ERROR_INSUFFICIENT_BUFFER = 122;
export const ERROR_BROKEN_PIPE = 109;
export const ERROR_NO_DATA = 232;
export const ERROR_MORE_DATA = 234;
export const ERROR_NO_MORE_ITEMS = 259;
export const ERROR_PIPE_CONNECTED = 535;
export const ERROR_PIPE_LISTENING = 536;
export const ERROR_OPERATION_ABORTED = 995;
export const ERROR_IO_PENDING = 997;
export const ERROR_NOT_FOUND = 1168;
export const ERROR_OBJECT_ALREADY_EXISTS = 5010;
export const ERROR_BUFFER_OVERFLOW = 111;
export const ERROR_HANDLE_DISK_FULL = 39;

/** Pointers and handles: koffi 3 passes and returns them as bigint (0n is NULL). */
export type Pointer = bigint;

/** GUID, by value or pointed to. */
export const GUID: TypeObject = koffi.struct('GUID', {
  Data1: 'uint32',
  Data2: 'uint16',
  Data3: 'uint16',
  Data4: koffi.array('uint8', 8),
});

/** OVERLAPPED (32 bytes on 64-bit Windows); the offset union is two u32 here. */
export const OVERLAPPED: TypeObject = koffi.struct('OVERLAPPED', {
  Internal: 'uintptr_t',
  InternalHigh: 'uintptr_t',
  Offset: 'uint32',
  OffsetHigh: 'uint32',
  hEvent: 'void *',
});

/** SECURITY_ATTRIBUTES, for a named pipe's security descriptor. */
export const SECURITY_ATTRIBUTES: TypeObject = koffi.struct('SECURITY_ATTRIBUTES', {
  nLength: 'uint32',
  lpSecurityDescriptor: 'void *',
  bInheritHandle: 'int',
});

export interface Kernel32 {
  GetLastError: () => number;
  CloseHandle: (handle: Pointer) => number;
  GetCurrentProcess: () => Pointer;
  GetCurrentThread: () => Pointer;
  CreateEventW: (
    attributes: Pointer | null,
    manualReset: number,
    initialState: number,
    name: string | null,
  ) => Pointer;
  SetEvent: (event: Pointer) => number;
  ResetEvent: (event: Pointer) => number;
  WaitForMultipleObjects: (count: number, handles: BigUint64Array, waitAll: number, ms: number) => number;
  WaitForSingleObject: (handle: Pointer, ms: number) => number;
  CreateNamedPipeW: (
    name: string,
    openMode: number,
    pipeMode: number,
    maxInstances: number,
    outBuffer: number,
    inBuffer: number,
    defaultTimeout: number,
    attributes: { nLength: number; lpSecurityDescriptor: Pointer; bInheritHandle: number } | null,
  ) => Pointer;
  ConnectNamedPipe: (pipe: Pointer, overlapped: Pointer) => number;
  DisconnectNamedPipe: (pipe: Pointer) => number;
  GetNamedPipeClientProcessId: (pipe: Pointer, pid: Uint32Array) => number;
  ImpersonateNamedPipeClient: (pipe: Pointer) => number;
  ReadFile: (file: Pointer, buffer: Pointer, length: number, read: Pointer, overlapped: Pointer) => number;
  WriteFile: (
    file: Pointer,
    buffer: Pointer,
    length: number,
    written: Pointer,
    overlapped: Pointer,
  ) => number;
  CancelIoEx: (file: Pointer, overlapped: Pointer) => number;
  CreateIoCompletionPort: (file: Pointer, port: Pointer, key: bigint, threads: number) => Pointer;
  GetQueuedCompletionStatus: (
    port: Pointer,
    bytes: Uint32Array,
    key: BigUint64Array,
    overlapped: BigUint64Array,
    ms: number,
  ) => number;
  PostQueuedCompletionStatus: (port: Pointer, bytes: number, key: bigint, overlapped: Pointer) => number;
  LocalFree: (memory: Pointer) => Pointer;
  FormatMessageW: (
    flags: number,
    source: Pointer,
    messageId: number,
    languageId: number,
    buffer: Uint16Array,
    size: number,
    args: Pointer,
  ) => number;
  RtlMoveMemory: (destination: Pointer | Uint8Array, source: Pointer | Uint8Array, length: number) => void;
}

let loaded: Kernel32 | undefined;

/** kernel32, loaded once (throws off Windows). */
export function kernel32(): Kernel32 {
  if (loaded) return loaded;
  const lib: LibraryHandle = koffi.load('kernel32.dll');
  const f = (definition: string) => lib.func(definition);
  loaded = {
    GetLastError: f('uint32 __stdcall GetLastError()'),
    CloseHandle: f('int __stdcall CloseHandle(void *handle)'),
    GetCurrentProcess: f('void * __stdcall GetCurrentProcess()'),
    GetCurrentThread: f('void * __stdcall GetCurrentThread()'),
    CreateEventW: f(
      'void * __stdcall CreateEventW(void *attributes, int manualReset, int initialState, str16 name)',
    ),
    SetEvent: f('int __stdcall SetEvent(void *event)'),
    ResetEvent: f('int __stdcall ResetEvent(void *event)'),
    WaitForMultipleObjects: f(
      'uint32 __stdcall WaitForMultipleObjects(uint32 count, const uint64_t *handles, int waitAll, uint32 ms)',
    ),
    WaitForSingleObject: f('uint32 __stdcall WaitForSingleObject(void *handle, uint32 ms)'),
    CreateNamedPipeW: f(
      'void * __stdcall CreateNamedPipeW(str16 name, uint32 openMode, uint32 pipeMode, uint32 maxInstances, ' +
        'uint32 outBuffer, uint32 inBuffer, uint32 defaultTimeout, SECURITY_ATTRIBUTES *attributes)',
    ),
    ConnectNamedPipe: f('int __stdcall ConnectNamedPipe(void *pipe, void *overlapped)'),
    DisconnectNamedPipe: f('int __stdcall DisconnectNamedPipe(void *pipe)'),
    GetNamedPipeClientProcessId: f('int __stdcall GetNamedPipeClientProcessId(void *pipe, uint32_t *pid)'),
    ImpersonateNamedPipeClient: f('int __stdcall ImpersonateNamedPipeClient(void *pipe)'),
    ReadFile: f(
      'int __stdcall ReadFile(void *file, void *buffer, uint32 length, void *read, void *overlapped)',
    ),
    WriteFile: f(
      'int __stdcall WriteFile(void *file, void *buffer, uint32 length, void *written, void *overlapped)',
    ),
    CancelIoEx: f('int __stdcall CancelIoEx(void *file, void *overlapped)'),
    CreateIoCompletionPort: f(
      'void * __stdcall CreateIoCompletionPort(void *file, void *port, uintptr_t key, uint32 threads)',
    ),
    GetQueuedCompletionStatus: f(
      'int __stdcall GetQueuedCompletionStatus(void *port, uint32_t *bytes, uint64_t *key, ' +
        'uint64_t *overlapped, uint32 ms)',
    ),
    PostQueuedCompletionStatus: f(
      'int __stdcall PostQueuedCompletionStatus(void *port, uint32 bytes, uintptr_t key, void *overlapped)',
    ),
    LocalFree: f('void * __stdcall LocalFree(void *memory)'),
    FormatMessageW: f(
      'uint32 __stdcall FormatMessageW(uint32 flags, void *source, uint32 id, uint32 language, ' +
        'uint16_t *buffer, uint32 size, void *args)',
    ),
    RtlMoveMemory: f('void __stdcall RtlMoveMemory(void *destination, const void *source, size_t length)'),
  };
  return loaded;
}

const FORMAT_MESSAGE_FROM_SYSTEM = 0x1000;
const FORMAT_MESSAGE_IGNORE_INSERTS = 0x200;

/** The system's text for a Win32 error code (or an HRESULT), e.g. "Access is denied." */
export function win32Message(code: number): string {
  try {
    const buffer = new Uint16Array(512);
    const length = kernel32().FormatMessageW(
      FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      0n,
      code >>> 0,
      0,
      buffer,
      buffer.length,
      0n,
    );
    const text = Buffer.from(buffer.buffer, 0, length * 2)
      .toString('utf16le')
      .trim();
    if (text) return `${text} (0x${(code >>> 0).toString(16)})`;
  } catch {
    // No kernel32 (not Windows): the bare number below.
  }
  return `Windows error 0x${(code >>> 0).toString(16)}`;
}
