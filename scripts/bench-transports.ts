// `npm run bench:transports` (and the end of `npm run bench`): TCP throughput through one tunnel of
// the real helper service to wireguard-go, carried over UDP, over phantommesh-relay's tcp:// and over
// its wss://, side by side. The relay runs beside the server (b) and forwards to its UDP port on
// loopback; the service runs in a. Documentation addresses only. Figures only: nothing here passes
// or fails.
//   npm run bench:transports [-- --seconds 5]

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import type { TransportSetting } from '../shared/src/control/protocol.ts';
import {
  createTopology,
  genKeyPair,
  iperf3Client,
  iperf3Server,
  missingPrerequisites,
  ping,
  spawnIn,
  startWireguardGo,
  uniqueName,
} from './lab/netns.ts';
import { startService } from './lab/service.ts';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const SECONDS = Math.min(30, Math.max(2, Number(args.seconds)));
const RELAY = new URL('../helper/src/cli/phantommesh-relay.ts', import.meta.url).pathname;

const reason = missingPrerequisites();
if (reason) {
  console.log(`Transports: skipped, ${reason}`);
  process.exit(0);
}

const dir = await mkdtemp(join(tmpdir(), 'pm-bench-transports-'));
const topology = await createTopology();
const server = topology.b.ipv4;
try {
  // A self-signed certificate for the relay's wss://, trusted by the client as its CA.
  await promisify(execFile)('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
    ...['-keyout', join(dir, 'relay.key'), '-out', join(dir, 'relay.pem'), '-days', '1'],
    ...['-subj', '/CN=relay.example', '-addext', `subjectAltName=IP:${server}`],
  ]);
  const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
  const wg = await startWireguardGo(topology.b.ns, uniqueName('pmbt'), {
    privateKey: theirs.privateKey,
    listenPort: 51820,
    addresses: ['192.0.2.2/24'],
    peers: [{ publicKey: ours.publicKey, allowedIps: ['192.0.2.1/32'] }],
  });
  const tcp = `tcp://${server}:8080`;
  const wss = `wss://${server}:8443/wg`;
  const relay = spawnIn(topology.b.ns, process.execPath, [
    RELAY,
    ...['--listen', tcp, '--listen', wss, '--to', '127.0.0.1:51820'],
    ...['--cert', join(dir, 'relay.pem'), '--key', join(dir, 'relay.key')],
  ]);
  await relay.waitForLine(/listening on wss/, 10_000);
  const service = await startService(topology.a.ns);
  const name = uniqueName('pmbt');
  await service.client.call('tunnels.import', {
    name,
    text: [
      '[Interface]',
      `PrivateKey = ${ours.privateKey}`,
      'Address = 192.0.2.1/24',
      // The same MTU for every transport, so that only the carrier differs.
      'MTU = 1280',
      '',
      '[Peer]',
      `PublicKey = ${theirs.publicKey}`,
      'AllowedIPs = 192.0.2.2/32',
      `Endpoint = ${server}:51820`,
      '',
    ].join('\n'),
  });
  const iperf = await iperf3Server(topology.b.ns);
  const ca = await readFile(join(dir, 'relay.pem'), 'utf8');
  const transports: Array<[string, TransportSetting]> = [
    ['UDP', { kind: 'udp' }],
    ['relay tcp://', { kind: 'relay', url: tcp }],
    ['relay wss://', { kind: 'relay', url: wss, ca }],
  ];
  console.log(`Throughput through the helper's tunnel by transport, iperf3 ${SECONDS} s each way (Mbit/s)`);
  try {
    for (const [label, transport] of transports) {
      await service.client.call('tunnels.disconnect', {});
      await service.client.call('tunnels.transport.set', { name, transport });
      await service.client.call('tunnels.connect', { name });
      await service.waitForStatus(name, (status) => status.state === 'connected', 20_000);
      const rtt = (await ping(topology.a.ns, '192.0.2.2', { count: 5 })).avgMs;
      const up = await iperf3Client(topology.a.ns, '192.0.2.2', { seconds: SECONDS });
      const down = await iperf3Client(topology.a.ns, '192.0.2.2', { seconds: SECONDS, reverse: true });
      console.log(
        `  ${label.padEnd(14)} up ${(up / 1e6).toFixed(0).padStart(5)}   down ${(down / 1e6).toFixed(0).padStart(5)}   ping ${rtt.toFixed(2)} ms`,
      );
    }
  } finally {
    await iperf.stop();
    await service.destroy();
    await relay.stop();
    await wg.stop();
  }
} finally {
  await topology.destroy();
  await rm(dir, { recursive: true, force: true });
}
