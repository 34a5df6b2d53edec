// The C library of macOS (libSystem) through koffi: every system call the _darwin modules make that
// Node does not offer, each declared once, here, with the constants and struct layouts of Darwin,
// which differ from Linux's: every sockaddr starts with a length byte (sa_len) and a one-byte family,
// AF_INET6 is 30, SOL_SOCKET is 0xffff, EAGAIN is 35, and there is no SOCK_NONBLOCK or SOCK_CLOEXEC
// (fcntl sets them). Loaded on first use, so importing this file works on every OS; the encoders
// below are pure and unit-tested on Linux (test/unit/libc-darwin.test.ts).

import { promisify } from 'node:util';
import koffi, { type LibraryHandle } from 'koffi';
import { parseIp, formatIp, type Endpoint, type Family } from '../../shared/src/ip.ts';

// <sys/errno.h>
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const EBADF = 9;
export const EACCES = 13;
export const EBUSY = 16;
export const ENODEV = 19;
export const EINVAL = 22;
export const ERANGE = 34;
export const EAGAIN = 35;
export const EINPROGRESS = 36;
export const ENOPROTOOPT = 42;
export const EAFNOSUPPORT = 47;
export const EADDRINUSE = 48;
export const ENOBUFS = 55;
export const ETIMEDOUT = 60;
export const ECANCELED = 89;
// <fcntl.h>
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const O_NONBLOCK = 0x0004;
// <sys/socket.h>
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 30;
export const AF_SYSTEM = 32;
export const PF_SYSTEM = AF_SYSTEM;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOL_SOCKET = 0xffff;
export const SO_SNDBUF = 0x1001;
export const SO_RCVBUF = 0x1002;
export const SO_ERROR = 0x1007;
export const SO_NOSIGPIPE = 0x1022;
// <netinet/in.h>
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
/** Sends (and routes) a socket's packets out of one interface only, by index; 0 unbinds. */
export const IP_BOUND_IF = 25;
export const IPV6_V6ONLY = 27;
export const IPV6_BOUND_IF = 125;
// <sys/un.h>: getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED) gives the peer's struct xucred
export const SOL_LOCAL = 0;
export const LOCAL_PEERCRED = 0x001;
export const LOCAL_PEERPID = 0x002;
export const XUCRED_VERSION = 0;
/** NGROUPS in <sys/param.h>: what a struct xucred holds. */
export const XUCRED_GROUPS = 16;
export const XUCRED_SIZE = 4 + 4 + 2 + 2 + 4 * XUCRED_GROUPS;
// <sys/kern_control.h>, <sys/sys_domain.h>, <net/if_utun.h>
export const SYSPROTO_CONTROL = 2;
export const AF_SYS_CONTROL = 2;
export const UTUN_CONTROL_NAME = 'com.apple.net.utun_control';
export const UTUN_OPT_IFNAME = 2;
export const MAX_KCTL_NAME = 96;
/** struct ctl_info { u_int32_t ctl_id; char ctl_name[MAX_KCTL_NAME]; } */
export const CTL_INFO_SIZE = 4 + MAX_KCTL_NAME;
/** struct sockaddr_ctl: sc_len, sc_family, ss_sysaddr, sc_id, sc_unit, sc_reserved[5]. */
export const SOCKADDR_CTL_SIZE = 32;
export const IFNAMSIZ = 16;
/** struct ifreq: the name, then a 16-byte union (ifr_mtu is its first int). */
export const IFREQ_SIZE = 32;

/** The request number of an ioctl, as <sys/ioccom.h>'s _IOW/_IOWR make it. */
export function ioctlRequest(direction: 'w' | 'rw', group: string, number: number, size: number): number {
  const IOC_IN = 0x80000000;
  const IOC_OUT = 0x40000000;
  const bits = direction === 'w' ? IOC_IN : IOC_IN | IOC_OUT;
  return (bits | ((size & 0x1fff) << 16) | (group.charCodeAt(0) << 8) | number) >>> 0;
}
/** _IOWR('N', 3, struct ctl_info): a kernel control's id from its name. */
export const CTLIOCGINFO = ioctlRequest('rw', 'N', 3, CTL_INFO_SIZE);
/** _IOWR('i', 51, struct ifreq) and _IOW('i', 52, struct ifreq): an interface's MTU. */
export const SIOCGIFMTU = ioctlRequest('rw', 'i', 51, IFREQ_SIZE);
export const SIOCSIFMTU = ioctlRequest('w', 'i', 52, IFREQ_SIZE);

const SOCKADDR_IN_SIZE = 16;
const SOCKADDR_IN6_SIZE = 28;
/** Room for a sockaddr_in or sockaddr_in6. */
export const SOCKADDR_MAX = SOCKADDR_IN6_SIZE;
/** sizeof(sockaddr_un.sun_path) on Darwin. */
export const SUN_PATH_BYTES = 104;

// ---------------------------------------------------------------------------------------------
// Pure encoders and decoders of Darwin's structs.

/**
 * struct sockaddr_in / sockaddr_in6 into `out` (at least SOCKADDR_MAX bytes): length byte, family
 * byte, port and address in network order, the IPv6 scope id in host order (little-endian on both
 * arm64 and x86_64 Macs). Returns the length to pass to the kernel.
 */
export function writeSockaddrDarwin(
  out: Buffer,
  family: Family,
  address: Uint8Array,
  port: number,
  scopeId = 0,
): number {
  out.fill(0, 0, family === 4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  out.writeUInt16BE(port, 2);
  if (family === 4) {
    out[0] = SOCKADDR_IN_SIZE;
    out[1] = AF_INET;
    out.set(address.length === 4 ? address : address.subarray(0, 4), 4);
    return SOCKADDR_IN_SIZE;
  }
  out[0] = SOCKADDR_IN6_SIZE;
  out[1] = AF_INET6;
  out.set(address, 8);
  out.writeUInt32LE(scopeId, 24);
  return SOCKADDR_IN6_SIZE;
}

/** A sockaddr_in or sockaddr_in6 as the kernel filled it (recvfrom); null for another family. An
 *  IPv4-mapped IPv6 source is given as plain IPv4; a scope id becomes `%index`. */
export function readSockaddrDarwin(address: Buffer): Endpoint | null {
  const family = address[1];
  const port = address.readUInt16BE(2);
  if (family === AF_INET) return { address: formatIp(address.subarray(4, 8)), port, family: 4 };
  if (family !== AF_INET6) return null;
  const bytes = address.subarray(8, 24);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return { address: formatIp(bytes.subarray(12, 16)), port, family: 4 };
  const scope = address.readUInt32LE(24);
  return { address: formatIp(bytes) + (scope ? `%${scope}` : ''), port, family: 6 };
}

/** struct sockaddr_ctl for connect() on a PF_SYSTEM socket; `unit` 0 lets the kernel pick (utun: N+1 is utunN). */
export function sockaddrCtl(controlId: number, unit: number): Buffer {
  const out = Buffer.alloc(SOCKADDR_CTL_SIZE);
  out[0] = SOCKADDR_CTL_SIZE;
  out[1] = AF_SYSTEM;
  out.writeUInt16LE(AF_SYS_CONTROL, 2);
  out.writeUInt32LE(controlId >>> 0, 4);
  out.writeUInt32LE(unit >>> 0, 8);
  return out;
}

/** struct ctl_info with the control's name filled in, for CTLIOCGINFO to fill the id. */
export function ctlInfo(name: string): Buffer {
  const out = Buffer.alloc(CTL_INFO_SIZE);
  if (Buffer.byteLength(name) >= MAX_KCTL_NAME) throw new RangeError(`control name ${name} is too long`);
  out.write(name, 4, 'utf8');
  return out;
}

/** The id CTLIOCGINFO wrote into a ctl_info. */
export function ctlInfoId(info: Buffer): number {
  return info.readUInt32LE(0);
}

/** struct ifreq with a name and, for SIOCSIFMTU, the MTU. */
export function ifreqMtu(name: string, mtu = 0): Buffer {
  const out = Buffer.alloc(IFREQ_SIZE);
  if (Buffer.byteLength(name) >= IFNAMSIZ) throw new RangeError(`interface name ${name} is too long`);
  out.write(name, 0, 'utf8');
  out.writeInt32LE(mtu, IFNAMSIZ);
  return out;
}

/** The MTU SIOCGIFMTU wrote into an ifreq. */
export function ifreqMtuOf(ifreq: Buffer): number {
  return ifreq.readInt32LE(IFNAMSIZ);
}

/** A NUL-terminated C string from a buffer. */
export function cString(buffer: Uint8Array): string {
  const end = buffer.indexOf(0);
  return Buffer.from(buffer.subarray(0, end === -1 ? buffer.length : end)).toString('utf8');
}

/** The 4-byte header in front of every packet on a utun: the address family, in network order. */
export const UTUN_HEADER_SIZE = 4;

/** The utun header for an IP packet, by its version nibble; null when it is neither IPv4 nor IPv6. */
export function utunHeaderFamily(packet: Uint8Array): number | null {
  const version = packet.length > 0 ? packet[0]! >> 4 : 0;
  return version === 4 ? AF_INET : version === 6 ? AF_INET6 : null;
}

/** Writes the header for `packet` into `out` at 0 and the packet after it; the frame's length, or 0
 *  for a packet that is no IP packet. */
export function frameUtun(out: Buffer, packet: Uint8Array): number {
  const family = utunHeaderFamily(packet);
  if (family === null || out.length < UTUN_HEADER_SIZE + packet.length) return 0;
  out.writeUInt32BE(family, 0);
  out.set(packet, UTUN_HEADER_SIZE);
  return UTUN_HEADER_SIZE + packet.length;
}

/** struct sockaddr_un for a path (no abstract names on Darwin), with sun_len. */
export function sockaddrUn(path: string): Buffer {
  const bytes = Buffer.from(path);
  if (bytes.length >= SUN_PATH_BYTES)
    throw new RangeError(`socket path ${path} is over ${SUN_PATH_BYTES - 1} bytes`);
  const out = Buffer.alloc(2 + bytes.length + 1);
  out[0] = out.length;
  out[1] = AF_UNIX;
  bytes.copy(out, 2);
  return out;
}

/** struct xucred as LOCAL_PEERCRED fills it: the version, uid and groups (the first is the effective gid). */
export function readXucred(buffer: Uint8Array): { version: number; uid: number; groups: number[] } {
  const view = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const version = view.readUInt32LE(0);
  const uid = view.readUInt32LE(4);
  const count = Math.max(0, Math.min(XUCRED_GROUPS, view.readInt16LE(8)));
  const groups: number[] = [];
  for (let i = 0; i < count; i++) groups.push(view.readUInt32LE(12 + 4 * i));
  return { version, uid, groups };
}

/** Text that must be an IP literal (with an optional %zone), as bytes and a scope name or number. */
export function parseScopedIp(text: string): { bytes: Uint8Array; zone: string | undefined } | null {
  const [literal, zone] = text.split('%', 2) as [string, string | undefined];
  const bytes = parseIp(literal);
  return bytes ? { bytes, zone } : null;
}

// ---------------------------------------------------------------------------------------------
// The functions.

type Async = (...args: unknown[]) => Promise<number>;

/** The libSystem functions the _darwin modules call; buffers are passed as pointers. */
export interface LibcDarwin {
  strerror: (errno: number) => string;
  ioctl: (fd: number, request: number, arg: Buffer) => number;
  fcntl: (fd: number, command: number, arg: number) => number;
  read: (fd: number, buf: Buffer, count: number) => number;
  write: (fd: number, buf: Uint8Array, count: number) => number;
  close: (fd: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  connect: (fd: number, addr: Buffer, len: number) => number;
  getsockname: (fd: number, addr: Buffer, len: Uint32Array) => number;
  setsockopt: (
    fd: number,
    level: number,
    name: number,
    value: Int32Array | Uint32Array,
    len: number,
  ) => number;
  getsockopt: (fd: number, level: number, name: number, value: Uint8Array, length: Uint32Array) => number;
  sendto: (fd: number, buf: Uint8Array, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  recvfrom: (
    fd: number,
    buf: Buffer,
    len: number,
    flags: number,
    addr: Buffer,
    addrlen: Uint32Array,
  ) => number;
  if_nametoindex: (name: string) => number;
  // The user and group databases go through Open Directory, which may ask the network: off the
  // event loop, on koffi's worker threads.
  getgrnam_r: Async;
  mbr_uid_to_uuid: Async;
  mbr_gid_to_uuid: Async;
  mbr_check_membership: Async;
}

let lib: LibraryHandle | undefined;
let functions: LibcDarwin | undefined;

function declare(lib: LibraryHandle): LibcDarwin {
  const group = koffi.struct('darwin_group', {
    gr_name: 'char *',
    gr_passwd: 'char *',
    gr_gid: 'uint32_t',
    gr_mem: 'void *',
  });
  const asyncOf = (fn: ReturnType<typeof lib.func>) => promisify(fn.async) as Async;
  return {
    strerror: lib.func('const char *strerror(int errnum)'),
    // ioctl and fcntl are variadic in C, and on arm64 Darwin variadic arguments go on the stack:
    // they must be declared so, or the kernel reads garbage.
    ioctl: (
      (fn) => (fd: number, request: number, arg: Buffer) =>
        fn(fd, request, 'void *', arg) as number
    )(lib.func('int ioctl(int fd, unsigned long request, ...)')),
    fcntl: (
      (fn) => (fd: number, command: number, arg: number) =>
        fn(fd, command, 'int', arg) as number
    )(lib.func('int fcntl(int fd, int cmd, ...)')),
    read: lib.func('long read(int fd, void *buf, size_t count)'),
    write: lib.func('long write(int fd, const void *buf, size_t count)'),
    close: lib.func('int close(int fd)'),
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    connect: lib.func('int connect(int fd, const void *addr, uint32_t len)'),
    getsockname: lib.func('int getsockname(int fd, void *addr, void *len)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, void *length)'),
    sendto: lib.func(
      'long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)',
    ),
    recvfrom: lib.func('long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *addrlen)'),
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
    getgrnam_r: asyncOf(
      lib.func('getgrnam_r', 'int', [
        'const char *',
        koffi.out(koffi.pointer(group)),
        'void *',
        'size_t',
        koffi.out(koffi.pointer('void *')),
      ]),
    ),
    // <membership.h>: uuid_t is unsigned char[16]; the answer takes nested groups into account.
    mbr_uid_to_uuid: asyncOf(lib.func('int mbr_uid_to_uuid(uint32_t uid, void *uu)')),
    mbr_gid_to_uuid: asyncOf(lib.func('int mbr_gid_to_uuid(uint32_t gid, void *uu)')),
    mbr_check_membership: asyncOf(
      lib.func('int mbr_check_membership(const void *user, const void *group, void *ismember)'),
    ),
  };
}

/** libSystem's functions, declared on first use. */
export function libcDarwin(): LibcDarwin {
  lib ??= koffi.load('/usr/lib/libSystem.B.dylib');
  functions ??= declare(lib);
  return functions;
}

export function strerrorDarwin(errno: number): string {
  return libcDarwin().strerror(errno);
}

/** Sets O_NONBLOCK and FD_CLOEXEC on a new descriptor (Darwin's socket() takes neither flag); the errno, or 0. */
export function makeNonBlocking(c: LibcDarwin, fd: number): number {
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || c.fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return koffi.errno();
  return 0;
}

export function setIntOption(c: LibcDarwin, fd: number, level: number, name: number, value: number): number {
  return c.setsockopt(fd, level, name, new Int32Array([value]), 4) < 0 ? koffi.errno() : 0;
}

/** IP_BOUND_IF (IPv4) or IPV6_BOUND_IF on a socket: its packets leave through that interface only,
 *  whatever the routing table says (a full tunnel's 0/1 routes included); 0 unbinds. The errno, or 0. */
export function bindToInterface(c: LibcDarwin, fd: number, family: Family, index: number): number {
  return family === 4
    ? setIntOption(c, fd, IPPROTO_IP, IP_BOUND_IF, index)
    : setIntOption(c, fd, IPPROTO_IPV6, IPV6_BOUND_IF, index);
}

export interface PollHandle {
  close(): void;
}

// koffi 3.3.4 calls a poll callback with (status, events) although its typings only declare events.
type Poll = (
  fd: number,
  options: { readable?: boolean; writable?: boolean },
  callback: (status: number) => void,
) => PollHandle;

/** Calls `onReady` from the event loop (libuv's kqueue) whenever `fd` is readable, or writable. */
export function watchFd(
  fd: number,
  options: { readable?: boolean; writable?: boolean },
  onReady: (status: number) => void,
): PollHandle {
  return (koffi.node.poll as unknown as Poll)(fd, options, onReady);
}
