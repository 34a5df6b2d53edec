// Winsock (ws2_32) through koffi: the socket calls of the Windows UDP bind, declared once and loaded
// on first use (WSAStartup is called once, then). Node's dgram sockets have no handle to set
// IP_UNICAST_IF on, so the bind makes its own (bind_windows.ts).

import koffi, { type LibraryHandle } from 'koffi';

export const INVALID_SOCKET = 0xffffffffffffffffn;
export const SOCKET_ERROR = -1;
export const SOCK_DGRAM = 2;
export const IPPROTO_IP = 0;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const SOL_SOCKET = 0xffff;
export const SO_RCVBUF = 0x1002;
export const SO_SNDBUF = 0x1001;
export const IP_UNICAST_IF = 31;
export const IPV6_UNICAST_IF = 31;
export const IPV6_V6ONLY = 27;
export const FIONBIO = 0x8004667en;
export const SIO_UDP_CONNRESET = 0x9800000c;
export const POLLRDNORM = 0x0100;
export const WSAEWOULDBLOCK = 10035;
export const WSAEINTR = 10004;
export const WSAENOTSOCK = 10038;
export const WSAEMSGSIZE = 10040;
export const WSAEADDRINUSE = 10048;
export const WSAECONNRESET = 10054;

export interface Ws2 {
  WSAGetLastError: () => number;
  socket: (family: number, type: number, protocol: number) => bigint;
  closesocket: (socket: bigint) => number;
  bind: (socket: bigint, address: Uint8Array, length: number) => number;
  getsockname: (socket: bigint, address: Uint8Array, length: Int32Array) => number;
  setsockopt: (socket: bigint, level: number, name: number, value: Uint8Array, length: number) => number;
  ioctlsocket: (socket: bigint, command: number, argument: Uint32Array) => number;
  WSAIoctl: (
    socket: bigint,
    code: number,
    input: Uint8Array,
    inputLength: number,
    output: Uint8Array | null,
    outputLength: number,
    returned: Uint32Array,
    overlapped: bigint,
    routine: bigint,
  ) => number;
  sendto: (
    socket: bigint,
    data: Uint8Array,
    length: number,
    flags: number,
    to: Uint8Array,
    toLength: number,
  ) => number;
  recvfrom: (
    socket: bigint,
    data: Uint8Array,
    length: number,
    flags: number,
    from: Uint8Array,
    fromLength: Int32Array,
  ) => number;
  WSAPoll: (fds: Uint8Array, count: number, timeoutMs: number) => number;
}

let loaded: Ws2 | undefined;

export function ws2(): Ws2 {
  if (loaded) return loaded;
  const lib: LibraryHandle = koffi.load('ws2_32.dll');
  const f = (definition: string) => lib.func(definition);
  const startup = f('int __stdcall WSAStartup(uint16 version, uint8_t *data)');
  // WSADATA is under 512 bytes on 64-bit Windows.
  const status = startup(0x0202, new Uint8Array(512)) as number;
  if (status !== 0) throw new Error(`WSAStartup failed: ${status}`);
  loaded = {
    WSAGetLastError: f('int __stdcall WSAGetLastError()'),
    socket: f('uint64 __stdcall socket(int family, int type, int protocol)'),
    closesocket: f('int __stdcall closesocket(uint64 socket)'),
    bind: f('int __stdcall bind(uint64 socket, const uint8_t *address, int length)'),
    getsockname: f('int __stdcall getsockname(uint64 socket, uint8_t *address, int32_t *length)'),
    setsockopt: f(
      'int __stdcall setsockopt(uint64 socket, int level, int name, const uint8_t *value, int length)',
    ),
    ioctlsocket: f('int __stdcall ioctlsocket(uint64 socket, int32 command, uint32_t *argument)'),
    WSAIoctl: f(
      'int __stdcall WSAIoctl(uint64 socket, uint32 code, const uint8_t *input, uint32 inputLength, ' +
        'uint8_t *output, uint32 outputLength, uint32_t *returned, void *overlapped, void *routine)',
    ),
    sendto: f(
      'int __stdcall sendto(uint64 socket, const uint8_t *data, int length, int flags, const uint8_t *to, int toLength)',
    ),
    recvfrom: f(
      'int __stdcall recvfrom(uint64 socket, uint8_t *data, int length, int flags, uint8_t *from, int32_t *fromLength)',
    ),
    WSAPoll: f('int __stdcall WSAPoll(uint8_t *fds, uint32 count, int timeoutMs)'),
  };
  return loaded;
}
