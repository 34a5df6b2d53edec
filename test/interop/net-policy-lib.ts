// Shared by the net-*.test.ts files, which test the helper's network policy (journal, full tunnel,
// DNS, kill switch) against the real kernel. The code under test runs in a child process inside a
// test namespace: a named one of the test's topology (runInNamespace) or a fresh one (runScenario of
// test/lib/run-in-netns.ts). Children that touch DNS first give themselves a private /etc
// (privateEtc), so the host's /etc/resolv.conf is never written.

import { readlinkSync } from 'node:fs';
import { mkdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBind } from '../../helper/src/conn/bind.ts';
import { exec, execIn, ping, spawnIn, type Spawned } from '../lib/netns.ts';
import { scenarioChild } from '../lib/run-in-netns.ts';

/** Runs scenario `name` of test file `file` (pass import.meta.url) inside the named namespace `ns`;
 *  the scenario reads `args` with scenarioArgs(). `ip netns exec` also gives the child a mount
 *  namespace of its own. */
export function runInNamespace<T>(ns: string, file: string, name: string, args: object = {}): Promise<T> {
  return scenarioChild<T>(
    `scenario ${name} in ${ns}`,
    'ip',
    ['netns', 'exec', ns, process.execPath, fileURLToPath(file)],
    { ...process.env, ...scenarioEnv(args), PMT_SCENARIO: name },
    30_000,
  );
}

/** The environment that hands `args` to a scenario (runScenario's `env`; runInNamespace sets it), with
 *  the test's own mount namespace, in which privateEtc() refuses to run. */
export function scenarioEnv(args: object): Record<string, string> {
  return { PMT_ARGS: JSON.stringify(args), PMT_HOST_MOUNT_NS: readlinkSync('/proc/self/ns/mnt') };
}

/** In the child: the `args` the test passed. */
export function scenarioArgs<T>(): T {
  return JSON.parse(process.env.PMT_ARGS ?? '{}') as T;
}

/**
 * In the child: mounts an overlay over /etc whose changes land in `dir` (kept there, so a later child
 * mounting the same `dir` sees them: a crash test's second process). Refuses to run in the host's
 * mount namespace, and checks the overlay is in place before anything can write to /etc.
 */
export async function privateEtc(dir: string): Promise<void> {
  const host = process.env.PMT_HOST_MOUNT_NS;
  if (!host || (await readlink('/proc/self/ns/mnt')) === host)
    throw new Error("refusing to mount over /etc: not in a mount namespace of the test's own");
  await mkdir(join(dir, 'upper'), { recursive: true });
  await mkdir(join(dir, 'work'), { recursive: true });
  const options = `lowerdir=/etc,upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`;
  await exec('mount', ['-t', 'overlay', 'overlay', '-o', options, '/etc']);
  await expectMount('/etc', 'overlay');
}

/** In the child: throws unless the last mount at `path` is of filesystem `type`. */
export async function expectMount(path: string, type: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => {
    return line.split(' ')[4] === path;
  });
  const last = mounts.at(-1);
  if (!last || last.split(' - ')[1]?.split(' ')[0] !== type)
    throw new Error(`expected a ${type} mount at ${path}, found ${last ?? 'none'}`);
}

/** A file exactly: bytes, mode and owner, or its link target, or its absence; as the journal keeps it. */
export {
  snapshotFile as fileState,
  type FileSnapshot as FileState,
} from '../../helper/src/net/file-snapshot_linux.ts';

/** Everything the policy code may change in a namespace, as the system tools print it. */
export interface NetworkSnapshot {
  rules4: string;
  rules6: string;
  routes4: string;
  routes6: string;
  nft: string;
  sysctls: string;
}

type Run = (cmd: string, args: string[]) => Promise<string>;

async function snapshotWith(run: Run): Promise<NetworkSnapshot> {
  return {
    rules4: await run('ip', ['-4', 'rule']),
    rules6: await run('ip', ['-6', 'rule']),
    routes4: await run('ip', ['-4', 'route', 'show', 'table', 'all']),
    routes6: await run('ip', ['-6', 'route', 'show', 'table', 'all']),
    nft: await run('nft', ['list', 'ruleset']),
    sysctls: await run('sysctl', ['net.ipv4.conf.all.src_valid_mark', 'net.ipv4.conf.all.rp_filter']),
  };
}

/** From the test process: the snapshot of namespace `ns`. */
export function snapshotOf(ns: string): Promise<NetworkSnapshot> {
  return snapshotWith((cmd, args) => execIn(ns, cmd, args));
}

/** In the child: the snapshot of its own namespace. */
export function snapshotHere(): Promise<NetworkSnapshot> {
  return snapshotWith((cmd, args) => exec(cmd, args));
}

/** A veth pair standing in for the tunnel: `ifname` in `client` (192.0.2.2/24, 2001:db8:7::2/64),
 *  `peer` in `server` (192.0.2.1/24, 2001:db8:7::1/64). The server answers neighbour discovery for
 *  whatever it routes elsewhere, as a TUN needs none: the client may route anything "dev ifname". */
export async function addTunnelLink(
  client: string,
  server: string,
  ifname: string,
  peer: string,
): Promise<void> {
  // Fixed MAC addresses, so that link-local addresses (and so snapshots) survive re-creating it.
  const [clientMac, serverMac] = ['02:00:00:00:00:02', '02:00:00:00:00:01'];
  const link = [ifname, 'address', clientMac, 'netns', client, 'type', 'veth'];
  await exec('ip', ['link', 'add', ...link, 'peer', 'name', peer, 'address', serverMac, 'netns', server]);
  for (const [ns, dev, v4, v6] of [
    [client, ifname, '192.0.2.2/24', '2001:db8:7::2/64'],
    [server, peer, '192.0.2.1/24', '2001:db8:7::1/64'],
  ] as const) {
    await execIn(ns, 'ip', ['address', 'add', v4, 'dev', dev]);
    await execIn(ns, 'ip', ['address', 'add', v6, 'dev', dev, 'nodad']);
    await execIn(ns, 'ip', ['link', 'set', dev, 'up']);
  }
  // Proxy answers come without the kernel's default random delay of up to 0.8 s.
  await execIn(server, 'sysctl', [
    '-q',
    '-w',
    `net.ipv4.conf.${peer}.proxy_arp=1`,
    `net.ipv4.neigh.${peer}.proxy_delay=0`,
    'net.ipv6.conf.all.proxy_ndp=1',
    `net.ipv6.neigh.${peer}.proxy_delay=0`,
  ]);
}

const ECHO_SERVER = `
const dgram = require('node:dgram');
const ports = process.argv.slice(1).map(Number);
let bound = 0;
for (const port of ports) for (const type of ['udp4', 'udp6']) {
  const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
  socket.on('message', (_, from) => {
    console.log('got ' + port + ' from ' + from.address);
    socket.send(from.address, from.port, from.address);
  });
  socket.bind(port, () => { if (++bound === ports.length * 2) console.log('listening'); });
}`;

/** UDP echo servers in `ns` on `ports` (IPv4 and IPv6): each datagram is logged as `got PORT from
 *  ADDRESS` and answered with the address it came from. */
export async function startUdpEcho(ns: string, ports: number[]): Promise<Spawned> {
  const server = spawnIn(ns, process.execPath, ['-e', ECHO_SERVER, ...ports.map(String)]);
  await server.waitForLine(/^listening$/, 5000);
  return server;
}

/** Pings each address until one answer came back (ARP and neighbour discovery done), so that a probe
 *  that gets no answer later says something about the firewall, not about a slow first packet. */
export async function warmUp(ns: string, addresses: string[]): Promise<void> {
  for (const address of addresses) await ping(ns, address);
}

/** In the child: sends one datagram from a fresh socket of the helper's own UDP code (marked with
 *  `fwmark` if given) and returns the answer (the address the echo server saw), or 'nothing'. */
export async function udpProbe(address: string, port: number, fwmark?: number): Promise<string> {
  let answer: (text: string) => void = () => {};
  const answered = new Promise<string>((resolve) => (answer = resolve));
  const bind = await openBind({
    port: 0,
    ...(fwmark ? { fwmark } : {}),
    onDatagram: (packet) => answer(packet.toString()),
  });
  try {
    bind.send(Buffer.from('probe'), { address, port, family: address.includes(':') ? 6 : 4 });
    const timer = setTimeout(() => answer('nothing'), 1000);
    const result = await answered;
    clearTimeout(timer);
    return result;
  } finally {
    await bind.close();
  }
}
