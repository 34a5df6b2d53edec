// `npm run demo`: the PhantomMesh helper service as the client in one network namespace, Debian's
// wireguard-go as the server in another, joined by a veth pair. It imports and connects a tunnel,
// shows ping, iperf3 and `wg show` through it, then opens the app (Electron where it can run, else
// the browser host) connected to that helper until Ctrl-C. Namespaces need root, so it re-runs
// itself with sudo when it can.

import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { startService } from './lab/service.ts';
import {
  createTopology,
  exec,
  execIn,
  genKeyPair,
  hasCommand,
  iperf3Client,
  iperf3Server,
  missingPrerequisites,
  ping,
  spawnIn,
  startWireguardGo,
  uniqueName,
  type Topology,
} from './lab/netns.ts';

const serverPort = 51820;
/** The `phantommesh` CLI, run as users run it. */
const CLI = resolve(import.meta.dirname, '../helper/src/cli/phantommesh.ts');

if (process.getuid?.() !== 0) {
  if (!hasCommand('sudo')) {
    console.error('demo: needs root to create network namespaces; run it as root (sudo is not installed).');
    process.exit(1);
  }
  console.log('demo: needs root to create network namespaces; re-running with sudo.');
  const result = spawnSync('sudo', ['--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}

const reason = missingPrerequisites();
if (reason !== undefined) {
  console.error(`demo: ${reason}`);
  process.exit(1);
}

let stepNumber = 0;
const step = (title: string): void => console.log(`\n=== ${++stepNumber}. ${title} ===`);
const indent = (text: string): string => text.trimEnd().replace(/^/gm, '    ');

step('Two network namespaces joined by a veth pair');
const topology = await createTopology();
const { a, b } = topology;
console.log(`    client side ${a.ns}: ${a.veth} ${a.ipv4} ${a.ipv6}`);
console.log(`    server side ${b.ns}: ${b.veth} ${b.ipv4} ${b.ipv6}`);
try {
  await demo(topology);
  console.log('\nDemo finished.');
} catch (error) {
  console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  step('Tearing down');
  await topology.destroy();
  console.log('    namespaces, processes and files removed');
}

async function demo({ a, b }: Topology): Promise<void> {
  step(`wireguard-go as the server in ${b.ns}`);
  const [serverKeys, clientKeys] = await Promise.all([genKeyPair(), genKeyPair()]);
  const server = await startWireguardGo(b.ns, uniqueName('wgsrv'), {
    privateKey: serverKeys.privateKey,
    listenPort: serverPort,
    addresses: ['192.0.2.2/24', 'fd00:6::2/64'],
    peers: [{ publicKey: clientKeys.publicKey, allowedIps: ['192.0.2.1/32', 'fd00:6::1/128'] }],
  });
  console.log(
    `    ${server.ifname}: 192.0.2.2/24, fd00:6::2/64, listening on ${b.ipv4}:${server.listenPort}`,
  );

  step(`The PhantomMesh helper service in ${a.ns}`);
  const service = await startService(a.ns);
  try {
    console.log(`    control socket ${service.socketPath}`);
    const name = uniqueName('demo');
    const config = (privateKey: string): string =>
      [
        '[Interface]',
        `PrivateKey = ${privateKey}`,
        'Address = 192.0.2.1/24, fd00:6::1/64',
        '',
        '[Peer]',
        `PublicKey = ${serverKeys.publicKey}`,
        'AllowedIPs = 192.0.2.0/24, fd00:6::/64',
        `Endpoint = ${b.ipv4}:${server.listenPort}`,
        'PersistentKeepalive = 25',
        '',
      ].join('\n');

    step(`Importing tunnel "${name}" and connecting`);
    console.log(indent(config('(hidden)')));
    await service.client.call('tunnels.import', { name, text: config(clientKeys.privateKey) });
    await service.client.call('tunnels.connect', { name });
    await service.waitForStatus(name, (s) => s.state === 'connected', 15_000);
    step('phantommesh status (the CLI, a client of the helper like the app)');
    console.log(indent(await exec(process.execPath, [CLI, '--socket', service.socketPath, 'status'])));

    step('ping 192.0.2.2 through the tunnel');
    console.log(indent((await ping(a.ns, '192.0.2.2', { count: 5 })).output));

    step('iperf3, 3 s, client -> server through the tunnel');
    const iperf = await iperf3Server(b.ns);
    const bits = await iperf3Client(a.ns, '192.0.2.2', { seconds: 3 });
    await iperf.stop();
    console.log(`    ${(bits / 1e6).toFixed(0)} Mbit/s`);

    step(`wg show ${name} (PhantomMesh, through its UAPI socket)`);
    console.log(indent(await execIn(a.ns, 'wg', ['show', name])));
    step(`wg show ${server.ifname} (wireguard-go)`);
    console.log(indent(await execIn(b.ns, 'wg', ['show', server.ifname])));

    await openApp(service.socketPath);
  } finally {
    step('Stopping the helper (SIGTERM): the tunnel goes down, the network is restored');
    await service.destroy();
  }
}

/**
 * The app, connected to the demo's helper, the way `npm start` opens it (scripts/start.ts): Electron
 * where its binary exists and there is a display, else the browser host, until Ctrl-C. Skipped
 * without a terminal (CI) or with --no-app.
 */
async function openApp(socketPath: string): Promise<void> {
  if (process.argv.includes('--no-app') || !process.stdin.isTTY) {
    console.log('\n(no terminal or --no-app: not opening the app)');
    return;
  }
  step('The PhantomMesh app');
  const app = spawnIn(null, process.execPath, [
    resolve(import.meta.dirname, 'start.ts'),
    '--no-build',
    '--socket',
    socketPath,
  ]);
  const ready = await app
    .waitForLine(/PhantomMesh browser host: |npm start: the Electron app/, 20_000)
    .catch(() => app.output());
  console.log(indent(app.output() || ready));
  console.log('    Press Ctrl-C to end the demo.');
  await new Promise<void>((done) => process.once('SIGINT', () => done()));
  await app.stop();
}
