// `npm run demo`: PhantomMesh's foreground runner as a client in one network namespace, Debian's
// wireguard-go as the server in another, joined by a veth pair; then ping, iperf3 and `wg show`
// through the tunnel. Namespaces need root, so it re-runs itself with sudo when it can.

import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  createTopology,
  execIn,
  genKeyPair,
  hasCommand,
  iperf3Client,
  iperf3Server,
  missingPrerequisites,
  ping,
  removeOnCleanup,
  spawnIn,
  startWireguardGo,
  uniqueName,
  type Topology,
} from '../test/lib/netns.ts';

const serverPort = 51820;
const cli = resolve(import.meta.dirname, '../helper/src/cli/phantommesh-helper.ts');

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

  step('Client wg-quick file');
  const name = uniqueName('pm');
  const dir = await mkdtemp(join(tmpdir(), 'phantommesh-demo-'));
  removeOnCleanup(a.ns, dir);
  const file = join(dir, `${name}.conf`);
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
  await writeFile(file, config(clientKeys.privateKey), { mode: 0o600 });
  console.log(`    ${file}:`);
  console.log(indent(config('(hidden)')));

  step(`PhantomMesh runner in ${a.ns}: phantommesh-helper tunnel ${name}.conf`);
  // Left behind only if the runner is killed.
  removeOnCleanup(a.ns, `/var/run/wireguard/${name}.sock`);
  const runner = spawnIn(a.ns, process.execPath, [cli, 'tunnel', file]);
  await runner.waitForLine(/is up/, 10_000);
  console.log(indent(runner.output()));

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

  step('Stopping the runner (SIGTERM)');
  const code = await runner.stop();
  if (code !== 0) throw new Error(`the runner exited with code ${code}; its output:\n${runner.output()}`);
  console.log('    exited cleanly');
}
