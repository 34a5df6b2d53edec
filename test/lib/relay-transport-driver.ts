// A program that runs helper/src/conn/relay-transport.ts inside a test's namespace (the transport
// connects from the namespace the process is in) and says what happens, one line each:
//   peer HOST:PORT             where the TCP connection goes (what a kill switch would allow)
//   state connecting|connected|waiting: LAST ERROR|closed
//   echo SEQ                   a datagram it sent came back (through the relay and an echo server)
//   counters {"sent":..}       on SIGUSR1 and before exiting
// SIGUSR2 sets the fwmark to --fwmark-later (as a full tunnel's policy routing coming up would).
//   log LINE                   the transport's own log
// It sends a WireGuard-shaped datagram (a type-4 transport message, 64 bytes, the sequence number
// in bytes 8..15) every --interval ms while connected, so the relay forwards it.
//
//   node test/lib/relay-transport-driver.ts --url URL [--proxy URL] [--ca F] [--cert F --key F]
//       [--connect-address ADDR] [--fwmark N] [--fwmark-later N] [--interval MS] [--stall-timeout MS]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openRelayTransport, type RelaySpec } from '../../helper/src/conn/relay-transport.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    proxy: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'connect-address': { type: 'string' },
    fwmark: { type: 'string', default: '0' },
    'fwmark-later': { type: 'string', default: '0' },
    interval: { type: 'string', default: '100' },
    'stall-timeout': { type: 'string' },
  },
});
if (values.url === undefined) throw new Error('--url is required');
const read = (path: string | undefined): string | undefined =>
  path === undefined ? undefined : readFileSync(path, 'utf8');
const spec: RelaySpec = { url: values.url };
if (values.proxy !== undefined) spec.proxy = values.proxy;
if (values.ca !== undefined) spec.ca = read(values.ca);
if (values.cert !== undefined) spec.clientCert = read(values.cert);
if (values.key !== undefined) spec.clientKey = read(values.key);

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const transport = openRelayTransport({
  spec,
  ...(values['connect-address'] !== undefined ? { connectAddress: values['connect-address'] } : {}),
  fwmark: Number(values.fwmark),
  ...(values['stall-timeout'] !== undefined ? { stallTimeoutMs: Number(values['stall-timeout']) } : {}),
  onDatagram: (packet) => {
    if (packet.length === 64 && packet[0] === 4) say(`echo ${packet.readBigUInt64BE(8)}`);
  },
  onState: (state) => say(state === 'waiting' ? `state waiting: ${transport.lastError}` : `state ${state}`),
  log: (line) => say(`log ${line}`),
});
say(`peer ${transport.peer.host}:${transport.peer.port}`);

let seq = 0n;
const timer = setInterval(() => {
  if (transport.state !== 'connected') return;
  const packet = Buffer.alloc(64);
  packet[0] = 4;
  packet.writeBigUInt64BE(seq++, 8);
  transport.send(packet);
}, Number(values.interval));

process.on('SIGUSR1', () => say(`counters ${JSON.stringify(transport.counters)}`));
process.on('SIGUSR2', () => transport.setFwmark(Number(values['fwmark-later'])));
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    clearInterval(timer);
    void transport.close().then(() => {
      say(`counters ${JSON.stringify(transport.counters)}`);
      process.exit(0);
    });
  });
