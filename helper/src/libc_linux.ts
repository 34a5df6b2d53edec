// The C library of Linux through koffi: every system call the helper makes that Node does not offer,
// each declared once, here. Loaded on first use, so that merely importing a module that uses it works
// on every OS; only the _linux modules (and the data path's worker thread) call libc().

import { promisify } from 'node:util';
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';

// The constants of <errno.h>, <fcntl.h> and <sys/socket.h> that the _linux modules use, each once.
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const EAGAIN = 11;
export const EACCES = 13;
export const EBUSY = 16;
export const ENODEV = 19;
export const EINVAL = 22;
export const ERANGE = 34;
/** What read and write on a TUN fd return once the interface behind it is gone (tun_get() finds no device). */
export const EBADFD = 77;
export const ENOPROTOOPT = 92;
export const EOPNOTSUPP = 95;
export const EAFNOSUPPORT = 97;
export const EADDRINUSE = 98;
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = O_NONBLOCK;
export const SOCK_CLOEXEC = O_CLOEXEC;
export const SOL_SOCKET = 1;

type Async = (...args: unknown[]) => Promise<number>;

/** The libc functions the helper calls; buffers are passed as pointers, fds and flags as numbers. */
export interface Libc {
  strerror: (errno: number) => string;
  // files
  open: (path: string, flags: number) => number;
  ioctl: (fd: number, request: number, type: string, arg: Buffer | number) => number;
  read: (fd: number, buf: Buffer, count: number) => number;
  write: (fd: number, buf: Uint8Array, count: number) => number;
  close: (fd: number) => number;
  poll: (fds: Buffer, nfds: number, timeout: number) => number;
  // sockets
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
  setns: (fd: number, nstype: number) => number;
  getsockname: (fd: number, addr: Buffer, len: Uint32Array) => number;
  setsockopt: (
    fd: number,
    level: number,
    name: number,
    value: Int32Array | Uint32Array,
    len: number,
  ) => number;
  getsockopt: (fd: number, level: number, name: number, value: Int32Array, length: Uint32Array) => number;
  sendto: (fd: number, buf: Uint8Array, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  sendmsg: (fd: number, msg: Buffer, flags: number) => number;
  recvmmsg: (fd: number, msgvec: Buffer, vlen: number, flags: number, timeout: null) => number;
  // memory: glibc's, returning freed heap pages to the system (memory-release.ts)
  malloc_trim: (pad: number) => number;
  // interfaces
  if_nametoindex: (name: string) => number;
  if_indextoname: (index: number, name: Buffer) => string | null;
  // the user database, through NSS: on koffi's worker threads (they are reentrant), because NSS may ask
  // a network directory (sssd, LDAP) and the helper's event loop must not wait for it
  getpwuid_r: Async;
  getgrnam_r: Async;
  getgrouplist: Async;
}

let lib: LibraryHandle | undefined;
let functions: Libc | undefined;

function declare(lib: LibraryHandle): Libc {
  const passwd = koffi.struct({
    pw_name: 'char *',
    pw_passwd: 'char *',
    pw_uid: 'uint32_t',
    pw_gid: 'uint32_t',
    pw_gecos: 'char *',
    pw_dir: 'char *',
    pw_shell: 'char *',
  });
  const group = koffi.struct({
    gr_name: 'char *',
    gr_passwd: 'char *',
    gr_gid: 'uint32_t',
    gr_mem: 'void *',
  });
  const asyncOf = (fn: ReturnType<typeof lib.func>) => promisify(fn.async) as Async;
  const reentrantLookup = (name: string, key: string, record: TypeObject) =>
    lib.func(name, 'int', [
      key,
      koffi.out(koffi.pointer(record)),
      'void *',
      'size_t',
      koffi.out(koffi.pointer('void *')),
    ]);
  return {
    strerror: lib.func('const char *strerror(int errnum)'),
    // open and ioctl are variadic in C and must be declared so: the ABI differs on some platforms.
    open: lib.func('int open(const char *path, int flags, ...)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)'),
    read: lib.func('long read(int fd, void *buf, size_t count)'),
    write: lib.func('long write(int fd, const void *buf, size_t count)'),
    close: lib.func('int close(int fd)'),
    poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    connect: lib.func('int connect(int fd, const void *addr, uint32_t len)'),
    setns: lib.func('int setns(int fd, int nstype)'),
    getsockname: lib.func('int getsockname(int fd, void *addr, void *len)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, void *length)'),
    sendto: lib.func(
      'long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)',
    ),
    sendmsg: lib.func('long sendmsg(int fd, const void *msg, int flags)'),
    recvmmsg: lib.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)'),
    malloc_trim: lib.func('int malloc_trim(size_t pad)'),
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
    if_indextoname: lib.func('const char *if_indextoname(unsigned int index, char *name)'),
    getpwuid_r: asyncOf(reentrantLookup('getpwuid_r', 'uint32_t', passwd)),
    getgrnam_r: asyncOf(reentrantLookup('getgrnam_r', 'const char *', group)),
    getgrouplist: asyncOf(
      lib.func('int getgrouplist(const char *user, uint32_t group, void *groups, void *count)'),
    ),
  };
}

/** libc's functions, declared on first use. */
export function libc(): Libc {
  lib ??= koffi.load('libc.so.6');
  functions ??= declare(lib);
  return functions;
}

/** The C library's text for an errno value, for error messages. */
export function strerror(errno: number): string {
  return libc().strerror(errno);
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
