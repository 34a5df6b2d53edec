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
