// libc through koffi, shared by every module that needs a system call Node does not offer. Loaded on
// first use, so that merely importing such a module works on every OS.

import koffi, { type LibraryHandle } from 'koffi';

let lib: LibraryHandle | undefined;
let strerrorFn: ((errno: number) => string) | undefined;

export function libc(): LibraryHandle {
  lib ??= koffi.load('libc.so.6');
  return lib;
}

/** The C library's text for an errno value, for error messages. */
export function strerror(errno: number): string {
  strerrorFn ??= libc().func('const char *strerror(int errnum)') as (errno: number) => string;
  return strerrorFn(errno);
}

/** A module's set of libc functions, declared once on first use. */
export function libcFunctions<T>(declare: (lib: LibraryHandle) => T): () => T {
  let functions: T | undefined;
  return () => {
    functions ??= declare(libc());
    return functions;
  };
}

export interface PollHandle {
  close(): void;
}

// koffi 3.3.4 calls a poll callback with (status, events) although its typings only declare events.
// A negative status is a libuv error; the one we care about is UV_EBADF, which libuv reports when the
// kernel flags EPOLLERR on the fd.
type Poll = (fd: number, options: { readable: boolean }, callback: (status: number) => void) => PollHandle;

/**
 * Calls `onReadable` from the event loop whenever `fd` (non-blocking) has data. The caller must keep
 * the handle: once it is garbage, the watch silently ends.
 */
export function watchReadable(fd: number, onReadable: (status: number) => void): PollHandle {
  return (koffi.node.poll as unknown as Poll)(fd, { readable: true }, onReadable);
}
