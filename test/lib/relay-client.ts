// A test-only client for phantommesh-relay: it listens on a local UDP port, which a stock WireGuard
// (wireguard-go) uses as its peer's Endpoint, and carries each datagram to the relay over tcp://,
// ws:// or wss://, and the relay's datagrams back to whoever last sent on the UDP port.
//
// The 2-byte framing is written here again from the research note (/work/shared/research/
// transports.md: "frames each UDP datagram on a TCP stream with a 2-byte big-endian length prefix"),
// not imported from helper/src/transport/stream-framing.ts: the relay is tested against an
// independent implementation of the wire format, as Mullvad's udp2tcp would be.
//
// As a program (run inside a test's namespace):
//   node test/lib/relay-client.ts --udp ADDR:PORT --url URL [--ca F] [--cert F --key F]
//       prints "relay-client listening on udp ADDR:PORT", then "relay-client connected" and
//       "relay-client closed: REASON" as its connection to the relay comes and goes (it reconnects at
//       the next datagram).
//   node test/lib/relay-client.ts --probe --url URL [--ca F] [--cert F --key F]
//       connects once and prints "probe: open" (and exits 0) or "probe: refused: REASON" (exit 1).

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

export interface RelayClientTls {
  /** PEM: the CA the relay's (or proxy's) certificate must chain to. */
  ca?: Buffer;
  /** PEM: the client certificate and its key, for mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
}

/** One connection to the relay carrying datagrams, whatever the URL's scheme. */
export interface RelayConnection {
  send(datagram: Uint8Array): void;
  close(): void;
}

export interface ConnectionEvents {
  open(): void;
  datagram(datagram: Buffer): void;
  closed(reason: string): void;
}

/** 2-byte big-endian length, then the datagram: Mullvad's udp-over-tcp framing. */
function frame(datagram: Uint8Array): Buffer {
  const out = Buffer.alloc(2 + datagram.length);
  out.writeUInt16BE(datagram.length, 0);
  Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length).copy(out, 2);
  return out;
}

/** Opens a connection to the relay at `url` (tcp://HOST:PORT, ws:// or wss://HOST:PORT/PATH). */
export function connectRelay(url: string, tls: RelayClientTls, events: ConnectionEvents): RelayConnection {
  if (url.startsWith('tcp://')) {
    const { hostname, port } = new URL(url.replace(/^tcp:/, 'http:'));
    const socket: Socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) });
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    let reason: string | undefined;
    socket.on('connect', () => events.open());
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        events.datagram(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => (reason ??= error.code ?? error.message));
    socket.on('close', () => events.closed(reason ?? 'closed by the relay'));
    return { send: (datagram) => void socket.write(frame(datagram)), close: () => socket.destroy() };
  }
  const ws = new WebSocket(url, {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    perMessageDeflate: false,
    handshakeTimeout: 5000,
  });
  let reason: string | undefined;
  ws.on('open', () => events.open());
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) events.datagram(data);
  });
  ws.on('error', (error: Error & { code?: string }) => (reason ??= error.code ?? error.message));
  ws.on('close', (code: number, why: Buffer) =>
    events.closed(reason ?? `closed by the relay (${code}${why.length ? ` ${why.toString()}` : ''})`),
  );
  return {
    send: (datagram) => {
      if (ws.readyState === ws.OPEN) ws.send(datagram, { binary: true });
    },
    close: () => ws.terminate(),
  };
}

export interface RelayClient {
  /** The UDP port WireGuard is to send to. */
  port: number;
  close(): void;
}

/** Forwards between a UDP port on `udpAddress` and the relay at `url`, connecting at the first
 *  datagram and again after the connection is lost. */
export function startRelayClient(
  udpAddress: string,
  udpPort: number,
  url: string,
  tls: RelayClientTls,
  say: (line: string) => void = () => {},
): Promise<RelayClient> {
  const udp: UdpSocket = createSocket(udpAddress.includes(':') ? 'udp6' : 'udp4');
  let peer: RemoteInfo | undefined;
  let connection: RelayConnection | undefined;
  let open = false;
  const queued: Buffer[] = [];
  const connectNow = (): void => {
    connection = connectRelay(url, tls, {
      open: () => {
        open = true;
        say('relay-client connected');
        for (const datagram of queued.splice(0)) connection?.send(datagram);
      },
      datagram: (datagram) => {
        if (peer) udp.send(datagram, peer.port, peer.address);
      },
      closed: (reason) => {
        say(`relay-client closed: ${reason}`);
        connection = undefined;
        open = false;
      },
    });
  };
  udp.on('message', (datagram, from) => {
    peer = from;
    if (!connection) connectNow();
    if (open) connection!.send(datagram);
    else if (queued.length < 64) queued.push(datagram);
  });
  return new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(udpPort, udpAddress, () => {
      const port = udp.address().port;
      say(`relay-client listening on udp ${udpAddress}:${port}`);
      resolve({
        port,
        close: () => {
          connection?.close();
          udp.close();
        },
      });
    });
  });
}

/** Connects once; resolves with 'open' or the reason it was refused. */
export function probeRelay(url: string, tls: RelayClientTls, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      connection.close();
      resolve(result);
    };
    const timer = setTimeout(() => settle('refused: timed out'), timeoutMs);
    const connection = connectRelay(url, tls, {
      open: () => settle('open'),
      datagram: () => {},
      closed: (reason) => settle(`refused: ${reason}`),
    });
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      udp: { type: 'string' },
      url: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      probe: { type: 'boolean', default: false },
    },
  });
  const read = (path: string | undefined): Buffer | undefined =>
    path === undefined ? undefined : readFileSync(path);
  const tls = { ca: read(values.ca), cert: read(values.cert), key: read(values.key) };
  if (values.url === undefined) throw new Error('--url is required');
  if (values.probe) {
    const result = await probeRelay(values.url, tls);
    console.log(`probe: ${result}`);
    process.exit(result === 'open' ? 0 : 1);
  }
  const [address, port] = (values.udp ?? '127.0.0.1:0').split(/:(?=\d+$)/);
  const say = (line: string): void => console.log(line);
  const client = await startRelayClient(address!, Number(port), values.url, tls, say);
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.once(signal, () => {
      client.close();
      process.exit(0);
    });
}
