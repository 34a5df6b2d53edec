// Windows UDP, the portable way (wireguard-go's StdNetBind on Windows): an IPv4 socket and an
// IPv6-only socket on the same port, made through Winsock (ws2_32_windows.ts) because Node's dgram
// gives no handle to set IP_UNICAST_IF on. Each is read by its own thread (udp-reader_windows.ts);
// sends are non-blocking sendto calls here (a full send buffer drops the datagram, as UDP may).
//
// The mark has no Windows meaning; a nonzero one asks what it asks on Linux, that the tunnel's own
// packets stay off the tunnels: the sockets are bound to the default interface of the machine with
// our adapters set aside (IP_UNICAST_IF / IPV6_UNICAST_IF, as wireguard-windows does), and bound again
// whenever a route or address changes (route-watch_windows.ts). 0 unbinds them.

import { Worker } from 'node:worker_threads';
import { PhantomError } from '../../../shared/src/errors.ts';
import { parseIp, type Endpoint, type Family } from '../../../shared/src/ip.ts';
import { siblingModule } from '../sibling-module.ts';
import { defaultInterface } from '../net/default-route_windows.ts';
import { addressTable, interfaceMetric, routeTable } from '../net/ipconfig_windows.ts';
import { ownAdapters, watchRoutes, type RouteWatch } from '../route-watch_windows.ts';
import {
  AF_INET,
  AF_INET6,
  readSockaddrInet,
  SOCKADDR_INET_BYTES,
  writeSockaddrInet,
} from '../sockaddr_windows.ts';
import { forEachPacket } from '../tun/packet-batch_windows.ts';
import {
  FIONBIO,
  INVALID_SOCKET,
  IP_UNICAST_IF,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPPROTO_UDP,
  IPV6_UNICAST_IF,
  IPV6_V6ONLY,
  SIO_UDP_CONNRESET,
  SO_RCVBUF,
  SO_SNDBUF,
  SOCK_DGRAM,
  SOL_SOCKET,
  WSAEADDRINUSE,
  ws2,
} from '../ws2_32_windows.ts';
import type { Bind, BindOptions } from './bind.ts';
import type { UdpReaderData, UdpReaderMessage } from './udp-reader_windows.ts';

const READER_URL = new URL(siblingModule('./udp-reader_windows', import.meta.url));
const SOCKET_BUFFER = 7 << 20;
const RANDOM_PORT_ATTEMPTS = 100;
const SEND_ERROR_LOG_INTERVAL_MS = 10_000;

const int32 = (value: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
};

/** IP_UNICAST_IF takes the index in network byte order, IPV6_UNICAST_IF in host order. */
export function unicastIfValue(family: Family, index: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, index >>> 0, family === 6);
  return bytes;
}

interface UdpSocket {
  family: Family;
  handle: bigint;
  reader: Worker;
  stop: Int32Array;
}

function openSocket(family: Family, port: number): bigint | 'in-use' {
  const api = ws2();
  const handle = api.socket(family === 4 ? AF_INET : AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
  if (handle === INVALID_SOCKET)
    throw new PhantomError(
      'BIND_FAILED',
      `cannot make an IPv${family} UDP socket (error ${api.WSAGetLastError()})`,
    );
  const fail = (what: string): never => {
    const error = api.WSAGetLastError();
    api.closesocket(handle);
    throw new PhantomError('BIND_FAILED', `IPv${family} UDP socket: ${what} failed (error ${error})`);
  };
  if (family === 6 && api.setsockopt(handle, IPPROTO_IPV6, IPV6_V6ONLY, int32(1), 4) !== 0)
    fail('IPV6_V6ONLY');
  api.setsockopt(handle, SOL_SOCKET, SO_RCVBUF, int32(SOCKET_BUFFER), 4);
  api.setsockopt(handle, SOL_SOCKET, SO_SNDBUF, int32(SOCKET_BUFFER), 4);
  // Without this, an ICMP port-unreachable makes the next recvfrom fail with WSAECONNRESET.
  api.WSAIoctl(handle, SIO_UDP_CONNRESET, int32(0), 4, null, 0, new Uint32Array(1), 0n, 0n);
  if (api.ioctlsocket(handle, Number(BigInt.asIntN(32, FIONBIO)), new Uint32Array([1])) !== 0)
    fail('FIONBIO');
  const { buffer, length } = writeSockaddrInet(family === 4 ? '0.0.0.0' : '::', port);
  if (api.bind(handle, buffer, length) !== 0) {
    if (api.WSAGetLastError() === WSAEADDRINUSE) {
      api.closesocket(handle);
      return 'in-use';
    }
    fail(`bind to port ${port}`);
  }
  return handle;
}

function boundPort(handle: bigint): number {
  const address = new Uint8Array(SOCKADDR_INET_BYTES);
  const length = new Int32Array([SOCKADDR_INET_BYTES]);
  ws2().getsockname(handle, address, length);
  return readSockaddrInet(address)?.port ?? 0;
}

export async function openBindWindows(options: BindOptions): Promise<Bind> {
  const api = ws2();
  let v4: bigint | undefined;
  let v6: bigint | undefined;
  for (let attempt = 0; attempt < (options.port === 0 ? RANDOM_PORT_ATTEMPTS : 1); attempt++) {
    const first = openSocket(4, options.port);
    if (first === 'in-use') throw new PhantomError('PORT_IN_USE', `UDP port ${options.port} is in use`);
    const port = boundPort(first);
    const second = openSocket(6, port);
    if (second !== 'in-use') {
      v4 = first;
      v6 = second;
      break;
    }
    api.closesocket(first);
    if (options.port !== 0)
      throw new PhantomError('PORT_IN_USE', `UDP port ${options.port} is in use for IPv6`);
  }
  if (v4 === undefined || v6 === undefined)
    throw new PhantomError('PORT_IN_USE', 'no UDP port was free for both IPv4 and IPv6');
  const port = boundPort(v4);

  const sockets: UdpSocket[] = [];
  for (const [family, handle] of [
    [4, v4],
    [6, v6],
  ] as const) {
    const stop = new SharedArrayBuffer(4);
    const data: UdpReaderData = { socket: handle, stop };
    const reader = new Worker(READER_URL, { workerData: data });
    reader.on('message', (message: UdpReaderMessage) => {
      if ('failed' in message) return;
      forEachPacket(message.batch, (record) => {
        const from = readSockaddrInet(record);
        if (from) options.onDatagram(record.subarray(SOCKADDR_INET_BYTES), from);
      });
    });
    reader.on('error', () => {});
    sockets.push({ family, handle, reader, stop: new Int32Array(stop) });
  }

  let mark = 0;
  let watch: RouteWatch | undefined;
  const bindToDefault = () => {
    const routes = routeTable();
    const addresses = addressTable();
    for (const socket of sockets) {
      const chosen =
        mark === 0
          ? null
          : defaultInterface(socket.family, routes, addresses, ownAdapters, (luid) =>
              interfaceMetric(luid, socket.family),
            );
      const index = chosen?.index ?? 0;
      const level = socket.family === 4 ? IPPROTO_IP : IPPROTO_IPV6;
      const name = socket.family === 4 ? IP_UNICAST_IF : IPV6_UNICAST_IF;
      api.setsockopt(socket.handle, level, name, unicastIfValue(socket.family, index), 4);
    }
  };
  const setFwmark = (next: number) => {
    mark = next;
    if (mark !== 0 && !watch) watch = watchRoutes(() => bindToDefault());
    if (mark === 0 && watch) {
      watch.stop();
      watch = undefined;
    }
    bindToDefault();
  };
  if (options.fwmark) setFwmark(options.fwmark);

  const destination = Buffer.alloc(SOCKADDR_INET_BYTES);
  let lastErrorLog = 0;
  let closed = false;
  return {
    port,
    send(packet: Uint8Array, to: Endpoint) {
      if (closed) return;
      const bytes = parseIp(to.address);
      const socket = sockets[bytes?.length === 4 ? 0 : 1]!;
      const { length } = writeSockaddrInet(to.address, to.port, destination);
      if (api.sendto(socket.handle, packet, packet.length, 0, destination, length) < 0) {
        const now = Date.now();
        if (now - lastErrorLog > SEND_ERROR_LOG_INTERVAL_MS) {
          lastErrorLog = now;
          process.emitWarning(`UDP send to ${to.address}:${to.port} failed (error ${api.WSAGetLastError()})`);
        }
      }
    },
    setFwmark,
    async close() {
      if (closed) return;
      closed = true;
      watch?.stop();
      for (const socket of sockets) Atomics.store(socket.stop, 0, 1);
      await Promise.all(
        sockets.map((socket) => new Promise((resolve) => socket.reader.once('exit', resolve))),
      );
      for (const socket of sockets) api.closesocket(socket.handle);
    },
  };
}
