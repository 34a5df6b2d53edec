// The lab: network namespaces joined by a veth pair, Debian's wireguard-go as the reference peer,
// ping and iperf3, for the demo, the benchmarks and the tests (test/lib/ builds on it). It drives only system tools (ip, wg,
// wireguard-go, sysctl, ping, iperf3), so it never depends on the code under test.
//
// Everything it creates is registered: a topology's destroy() removes its namespaces, the processes
// started in them and the files tied to them; whatever is still registered when the process exits or
// is interrupted (SIGINT/SIGTERM) is removed then.

import {
  execFile,
  execFileSync,
  spawn,
  type ChildProcess,
  type ExecFileException,
  type ExecFileOptions,
} from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';

// ---------------------------------------------------------------------------------------------
// Commands

export interface ExecOptions {
  /** Written to the command's stdin (`wg pubkey` reads the private key there). */
  input?: string;
  /** Default 30 s, so a hung tool fails the run instead of stalling it. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command (no shell) and returns its stdout; throws with its stderr (or stdout) on failure. */
export async function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const timeout = opts.timeoutMs ?? 30_000;
  const { error, stdout, stderr } = await runCommand(
    cmd,
    args,
    { timeout, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env, input: opts.input },
    commands,
  );
  if (!error) return stdout;
  const why = error.killed
    ? `timed out after ${timeout} ms`
    : typeof error.code === 'number'
      ? `exit ${error.code}`
      : error.message;
  const said = stderr.trim() || stdout.trim();
  throw new Error(`${[cmd, ...args].join(' ')} failed (${why})${said ? `: ${said}` : ''}`);
}

export interface CommandOutcome {
  /** execFile's error: null when the command exited 0. */
  error: ExecFileException | null;
  stdout: string;
  stderr: string;
}

/**
 * The one way the lab and the test harness run a command to completion: execFile (no shell) with
 * `input` written to its stdin, the child held in `running` (to be killed on exit) while it runs.
 * Never rejects: the caller words the failure.
 */
export function runCommand(
  cmd: string,
  args: readonly string[],
  options: ExecFileOptions & { input?: string | Buffer },
  running: Set<ChildProcess>,
): Promise<CommandOutcome> {
  const { input, ...execOptions } = options;
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { ...execOptions, encoding: 'utf8' }, (error, stdout, stderr) => {
      running.delete(child);
      resolve({ error, stdout, stderr });
    });
    running.add(child);
    // The command may exit without reading its input; its exit status reports that, not EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

/** `exec` inside network namespace `ns`. */
export function execIn(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts?: ExecOptions,
): Promise<string> {
  return exec('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** A long-running process started inside a namespace, with its output captured line by line. */
export interface Spawned {
  /** null: started in the test's own namespace. */
  readonly ns: string | null;
  readonly child: ChildProcess;
  /** Resolves once the process has exited and its output is read: the exit code, null after a signal. */
  readonly exited: Promise<number | null>;
  /** Everything printed so far, stdout and stderr interleaved by line (the last 5000 lines). */
  output(): string;
  /** The first line (earlier or future, either stream) matching `pattern` (no /g flag); rejects with
   *  the output so far on timeout or when the process exits first. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

const keptLines = 5000;

/** Starts `cmd` inside namespace `ns`, or in the test's own namespace when `ns` is null. */
export function spawnIn(
  ns: string | null,
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv } = {},
): Spawned {
  const label = `${[basename(cmd), ...args].join(' ')} (in ${ns ?? 'this namespace'})`;
  const command = ns === null ? [cmd, ...args] : ['ip', 'netns', 'exec', ns, cmd, ...args];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const record = (line: string): void => {
    lines.push(line);
    if (lines.length > keptLines) lines.shift();
    for (const watch of watchers) watch(line);
  };
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', record);
  child.on('error', (error) => record(`${label}: ${error.message}`));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const output = (): string => lines.join('\n');

  const spawned: Spawned = {
    ns,
    child,
    exited,
    output,
    waitForLine(pattern, timeoutMs) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const finish = (settle: () => void): void => {
          clearTimeout(timer);
          watchers.delete(watch);
          settle();
        };
        const watch = (line: string): void => {
          if (pattern.test(line)) finish(() => resolve(line));
        };
        const fail = (problem: string): void =>
          finish(() => reject(new Error(`${label} ${problem}; its output:\n${output()}`)));
        const timer = setTimeout(
          () => fail(`printed no line matching ${pattern} within ${timeoutMs} ms`),
          timeoutMs,
        );
        watchers.add(watch);
        void exited.then((code) => fail(`exited (code ${code}) before printing a line matching ${pattern}`));
      });
    },
    async stop(graceMs = 3000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
  running.add(spawned);
  hookExit();
  void exited.then(() => running.delete(spawned));
  return spawned;
}

/** Whether `name` is an executable on PATH. */
export function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** `prefix` plus 6 random hex digits. Interface names must be unique per run because every namespace
 *  shares /var/run/wireguard/NAME.sock; the kernel limits names to 15 characters. */
export function uniqueName(prefix: string): string {
  const name = prefix + randomBytes(3).toString('hex');
  if (name.length > 15) throw new Error(`name ${name} is longer than 15 characters`);
  return name;
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry

const running = new Set<Spawned>();
/** Short commands still in flight (an iperf3 client, a ping) when the run is interrupted. */
const commands = new Set<ChildProcess>();
const namespaces = new Set<string>();
/** Files and directories to remove, each with the namespace it belongs to. */
const leftovers = new Map<string, string>();

/** Removes `path` (file or directory) when namespace `ns` is destroyed, or at exit at the latest. */
export function removeOnCleanup(ns: string, path: string): void {
  leftovers.set(path, ns);
  hookExit();
}

async function release(owned: (ns: string) => boolean): Promise<void> {
  await Promise.all([...running].filter((p) => p.ns !== null && owned(p.ns)).map((p) => p.stop()));
  for (const [path, ns] of leftovers) {
    if (!owned(ns)) continue;
    leftovers.delete(path);
    await rm(path, { recursive: true, force: true });
  }
  const doomed = [...namespaces].filter(owned);
  for (const ns of doomed) namespaces.delete(ns);
  const results = await Promise.allSettled(doomed.map((ns) => exec('ip', ['netns', 'del', ns])));
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}

// On exit nothing asynchronous runs any more: kill outright; deleting the namespaces removes whatever
// the killed processes had configured inside them.
function releaseAllSync(): void {
  for (const p of running) p.child.kill('SIGKILL');
  for (const child of commands) child.kill('SIGKILL');
  for (const path of leftovers.keys()) rmSync(path, { recursive: true, force: true });
  for (const ns of namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}

let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', releaseAllSync);
  // SIGHUP too: closing the terminal that runs the demo must not leave namespaces behind.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      const code = 128 + osConstants.signals[signal];
      console.error(`\n${signal}: removing test namespaces and processes`);
      // A second signal exits at once; the 'exit' hook then cleans up synchronously.
      process.once(signal, () => process.exit(code));
      void release(() => true).finally(() => process.exit(code));
    });
  }
}

const requiredTools = ['ip', 'wg', 'wireguard-go', 'sysctl', 'ping', 'iperf3'];

/** Why the harness cannot run here, or undefined when it can. */
export function missingPrerequisites(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (it creates network namespaces)';
  const missing = requiredTools.filter((tool) => !hasCommand(tool));
  if (missing.length > 0) return `missing ${missing.join(', ')} (install the packages listed in .ci/run)`;
  if (!existsSync('/dev/net/tun')) return 'missing /dev/net/tun';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Topology

/** Outer addresses of one side, as address/prefix. */
export interface SideOptions {
  ipv4?: string;
  ipv6?: string;
}

export interface TopologyOptions {
  a?: SideOptions;
  b?: SideOptions;
  /** Adds `c`, an "internet" host (203.0.113.1) behind `b`, which routes between them; `a`'s
   *  default route then points at `b`, so `c` is reachable from `a` directly or through a tunnel. */
  internet?: boolean;
}

/** One namespace with its end of the veth pair; addresses without prefix, ready for endpoints. */
export interface Side {
  ns: string;
  veth: string;
  ipv4: string;
  ipv6: string;
}

export interface Topology {
  a: Side;
  b: Side;
  /** With `internet`: the host behind `b`; its veth is `veth-c`, `b`'s end of that link `veth-bc`. */
  c?: Side;
  /** Stops the processes started in both namespaces, removes their files and the namespaces. */
  destroy(): Promise<void>;
}

/** Two namespaces, `a` and `b`, joined by a veth pair (198.51.100.1/24 + fd00:5::1/64 on `a`,
 *  198.51.100.2/24 + fd00:5::2/64 on `b` unless chosen), loopback up, IPv6 DAD off. */
export async function createTopology(options: TopologyOptions = {}): Promise<Topology> {
  const sides = [
    { ns: uniqueName('pm-a-'), veth: 'veth-a', ipv4: '198.51.100.1/24', ipv6: 'fd00:5::1/64', ...options.a },
    { ns: uniqueName('pm-b-'), veth: 'veth-b', ipv4: '198.51.100.2/24', ipv6: 'fd00:5::2/64', ...options.b },
  ] as const;
  const owned = new Set(sides.map((side) => side.ns));
  const destroy = (): Promise<void> => release((ns) => owned.has(ns));
  try {
    for (const side of sides) {
      await addNamespace(side.ns);
    }
    const [a, b] = sides;
    await addVethPair(a, b);
    for (const side of sides) {
      await addressVeth(side.ns, side.veth, side.ipv4, side.ipv6);
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  const plain = (side: (typeof sides)[number]): Side => ({
    ns: side.ns,
    veth: side.veth,
    ipv4: side.ipv4.split('/')[0],
    ipv6: side.ipv6.split('/')[0],
  });
  const c = options.internet ? await addInternetHost(sides[0], sides[1], owned, destroy) : undefined;
  return { a: plain(sides[0]), b: plain(sides[1]), ...(c ? { c } : {}), destroy };
}

/**
 * Adds namespace `ns` with loopback up and IPv6 addresses usable at once; registered, so that it is
 * deleted when the process exits at the latest (deleteNamespace() or a topology's destroy() sooner).
 */
export async function addNamespace(ns: string): Promise<void> {
  await exec('ip', ['netns', 'add', ns]);
  namespaces.add(ns);
  hookExit();
  // Addresses (also those added later in this namespace) are usable at once, not after DAD.
  await execIn(ns, 'sysctl', [
    '-q',
    '-w',
    'net.ipv6.conf.all.accept_dad=0',
    'net.ipv6.conf.default.accept_dad=0',
  ]);
  await execIn(ns, 'ip', ['link', 'set', 'lo', 'up']);
}

/** Deletes a namespace addNamespace() made (whatever runs inside should be stopped first). */
export async function deleteNamespace(ns: string): Promise<void> {
  namespaces.delete(ns);
  await exec('ip', ['netns', 'del', ns]);
}

/** A veth pair between two namespaces: `a.veth` in `a.ns`, `b.veth` in `b.ns`. */
export async function addVethPair(
  a: { ns: string; veth: string },
  b: { ns: string; veth: string },
): Promise<void> {
  await exec('ip', [
    'link',
    'add',
    a.veth,
    'netns',
    a.ns,
    'type',
    'veth',
    'peer',
    'name',
    b.veth,
    'netns',
    b.ns,
  ]);
}

/** Gives veth `veth` in namespace `ns` its addresses (as address/prefix; IPv6 without DAD) and sets it up. */
async function addressVeth(ns: string, veth: string, ipv4: string, ipv6: string): Promise<void> {
  await execIn(ns, 'ip', ['address', 'add', ipv4, 'dev', veth]);
  await execIn(ns, 'ip', ['address', 'add', ipv6, 'dev', veth, 'nodad']);
  await execIn(ns, 'ip', ['link', 'set', veth, 'up']);
}

async function addInternetHost(
  a: { ns: string; ipv4: string },
  b: { ns: string; ipv4: string },
  owned: Set<string>,
  destroy: () => Promise<void>,
): Promise<Side> {
  const c: Side = { ns: uniqueName('pm-c-'), veth: 'veth-c', ipv4: '203.0.113.1', ipv6: 'fd00:7::1' };
  try {
    owned.add(c.ns);
    await addNamespace(c.ns);
    await addVethPair({ ns: b.ns, veth: 'veth-bc' }, c);
    await addressVeth(b.ns, 'veth-bc', '203.0.113.254/24', 'fd00:7::fe/64');
    await addressVeth(c.ns, c.veth, `${c.ipv4}/24`, `${c.ipv6}/64`);
    // c answers everything through b: the outer network, and the tunnel's inner addresses, which b
    // routes back into its WireGuard interface.
    await execIn(c.ns, 'ip', ['route', 'add', 'default', 'via', '203.0.113.254']);
    await execIn(c.ns, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:7::fe']);
    await execIn(b.ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    await execIn(a.ns, 'ip', ['route', 'add', 'default', 'via', b.ipv4.split('/')[0]!]);
    await execIn(a.ns, 'ip', ['-6', 'route', 'add', 'default', 'via', 'fd00:5::2']);
    return c;
  } catch (error) {
    await destroy();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Keys, through `wg` so that tests never trust the key code they are testing

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export async function genKey(): Promise<string> {
  return (await exec('wg', ['genkey'])).trim();
}

export async function pubKey(privateKey: string): Promise<string> {
  return (await exec('wg', ['pubkey'], { input: privateKey })).trim();
}

export async function genPsk(): Promise<string> {
  return (await exec('wg', ['genpsk'])).trim();
}

export async function genKeyPair(): Promise<KeyPair> {
  const privateKey = await genKey();
  return { privateKey, publicKey: await pubKey(privateKey) };
}

// ---------------------------------------------------------------------------------------------
// wireguard-go and `wg show`

export interface WgPeerConfig {
  publicKey: string;
  presharedKey?: string;
  /** host:port or [v6]:port; omitted, the peer is learned from its first authenticated packet. */
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
}

export interface WgInterfaceConfig {
  privateKey: string;
  /** Omitted, wireguard-go picks a random port (read back as `listenPort`). */
  listenPort?: number;
  /** address/prefix */
  addresses: string[];
  /** Omitted, wireguard-go's default 1420 stays. */
  mtu?: number;
  peers: WgPeerConfig[];
  /** Errors only (LOG_LEVEL=error) instead of verbose: a flooded wireguard-go would log every packet. */
  quiet?: boolean;
  /** Another program with wireguard-go's command line (`PROGRAM -f IFNAME`), e.g. PhantomMesh's
   *  drop-in: [node, phantommesh-helper]; started quiet (its log lines are not wireguard-go's). */
  program?: readonly string[];
  /** The program's environment on top of ours (NODE_OPTIONS for the drop-in). */
  env?: Record<string, string>;
}

export interface WgDumpPeer {
  publicKey: string;
  presharedKey: string | null;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds; 0 = never. */
  latestHandshake: number;
  rx: number;
  tx: number;
  persistentKeepalive: number | null;
}

export interface WgDump {
  privateKey: string;
  publicKey: string;
  listenPort: number;
  fwmark: number | null;
  peers: WgDumpPeer[];
}

/** What `wg show IF FIELD` returns, parsed; maps are keyed by peer public key. */
export interface WgShowFields {
  endpoints: Map<string, string | null>;
  /** Unix seconds; 0 = never. */
  'latest-handshakes': Map<string, number>;
  transfer: Map<string, { rx: number; tx: number }>;
  dump: WgDump;
}

const rows = (text: string): string[][] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
const orNull = (value: string): string | null => (value === '(none)' ? null : value);
const offOrNumber = (value: string): number | null => (value === 'off' ? null : Number(value));

const wgShowParsers: { [F in keyof WgShowFields]: (text: string) => WgShowFields[F] } = {
  endpoints: (text) => new Map(rows(text).map(([key, endpoint]) => [key, orNull(endpoint)])),
  'latest-handshakes': (text) => new Map(rows(text).map(([key, seconds]) => [key, Number(seconds)])),
  transfer: (text) => new Map(rows(text).map(([key, rx, tx]) => [key, { rx: Number(rx), tx: Number(tx) }])),
  dump: (text) => {
    const [[privateKey, publicKey, listenPort, fwmark], ...peers] = rows(text);
    return {
      privateKey,
      publicKey,
      listenPort: Number(listenPort),
      fwmark: offOrNumber(fwmark),
      peers: peers.map(([key, psk, endpoint, ips, handshake, rx, tx, keepalive]) => ({
        publicKey: key,
        presharedKey: orNull(psk),
        endpoint: orNull(endpoint),
        allowedIps: ips === '(none)' ? [] : ips.split(','),
        latestHandshake: Number(handshake),
        rx: Number(rx),
        tx: Number(tx),
        persistentKeepalive: offOrNumber(keepalive),
      })),
    };
  },
};

/** `wg show IFNAME FIELD` parsed. Works for any userspace interface, ours included (UAPI socket). */
export async function wgShow<F extends keyof WgShowFields>(
  ns: string,
  ifname: string,
  field: F,
): Promise<WgShowFields[F]> {
  const parse = wgShowParsers[field];
  return parse(await execIn(ns, 'wg', ['show', ifname, field]));
}

export interface WireguardGo {
  ns: string;
  ifname: string;
  listenPort: number;
  process: Spawned;
  wgShow<F extends keyof WgShowFields>(field: F): Promise<WgShowFields[F]>;
  stop(): Promise<void>;
}

/** Runs Debian's `wireguard-go -f IFNAME` in `ns` and configures it with `wg set` and `ip`. */
export async function startWireguardGo(
  ns: string,
  ifname: string,
  config: WgInterfaceConfig,
): Promise<WireguardGo> {
  const [command, ...leading] = config.program ?? ['wireguard-go'];
  const quiet = config.quiet || config.program !== undefined;
  const daemon = spawnIn(ns, command!, [...leading, '-f', ifname], {
    env: { ...process.env, ...config.env, LOG_LEVEL: quiet ? 'error' : 'verbose' },
  });
  // Left behind only if it is killed; must not outlive the run.
  const socket = `/var/run/wireguard/${ifname}.sock`;
  removeOnCleanup(ns, socket);
  if (!quiet) await daemon.waitForLine(/UAPI listener started/, 5000);
  for (let waited = 0; quiet && !existsSync(socket); waited += 20) {
    if (waited > 5000) throw new Error(`wireguard-go ${ifname} did not start:\n${daemon.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  // `wg set` reads keys only from files; /dev/stdin fails because Node's stdin pipes are sockets.
  const keyDir = await mkdtemp(join(tmpdir(), 'pm-keys-'));
  try {
    const keyFile = async (name: string, key: string): Promise<string> => {
      const path = join(keyDir, name);
      await writeFile(path, key, { mode: 0o600 });
      return path;
    };
    const args = ['set', ifname, 'private-key', await keyFile('private', config.privateKey)];
    if (config.listenPort !== undefined) args.push('listen-port', String(config.listenPort));
    for (const [i, peer] of config.peers.entries()) {
      args.push('peer', peer.publicKey);
      if (peer.presharedKey !== undefined)
        args.push('preshared-key', await keyFile(`psk${i}`, peer.presharedKey));
      if (peer.endpoint !== undefined) args.push('endpoint', peer.endpoint);
      if (peer.persistentKeepalive !== undefined)
        args.push('persistent-keepalive', String(peer.persistentKeepalive));
      if (peer.allowedIps.length > 0) args.push('allowed-ips', peer.allowedIps.join(','));
    }
    await execIn(ns, 'wg', args);
  } finally {
    await rm(keyDir, { recursive: true, force: true });
  }
  for (const address of config.addresses) await execIn(ns, 'ip', ['address', 'add', address, 'dev', ifname]);
  if (config.mtu !== undefined) await execIn(ns, 'ip', ['link', 'set', ifname, 'mtu', String(config.mtu)]);
  await execIn(ns, 'ip', ['link', 'set', ifname, 'up']);
  const listenPort = Number((await execIn(ns, 'wg', ['show', ifname, 'listen-port'])).trim());

  return {
    ns,
    ifname,
    listenPort,
    process: daemon,
    wgShow: (field) => wgShow(ns, ifname, field),
    stop: async () => {
      await daemon.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Traffic

export interface PingOptions {
  /** Default 3. */
  count?: number;
  /** ICMP payload bytes (`ping -s`). */
  size?: number;
  /** Don't fragment (`ping -M do`): an oversize packet fails instead of being split. */
  df?: boolean;
  /** Seconds between pings; default 0.2. */
  interval?: number;
}

export interface PingResult {
  transmitted: number;
  received: number;
  avgMs: number;
  /** The median of the replies' round trips (ping's own `time=`). */
  medianMs: number;
  output: string;
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Pings from `ns`; throws (with ping's report) unless at least one reply came back. */
export async function ping(ns: string, address: string, opts: PingOptions = {}): Promise<PingResult> {
  const args = ['-c', String(opts.count ?? 3), '-i', String(opts.interval ?? 0.2), '-W', '2'];
  if (opts.size !== undefined) args.push('-s', String(opts.size));
  if (opts.df) args.push('-M', 'do');
  const output = await execIn(ns, 'ping', [...args, address]);
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(output);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(output);
  if (!counts || !rtt) throw new Error(`unexpected ping output:\n${output}`);
  const times = [...output.matchAll(/time=([\d.]+) ms/g)].map((match) => Number(match[1]));
  return {
    transmitted: Number(counts[1]),
    received: Number(counts[2]),
    avgMs: Number(rtt[1]),
    medianMs: times.length > 0 ? median(times) : Number(rtt[1]),
    output,
  };
}

/** A UDP counter of `ns` so far, by its name in /proc/net/snmp (InDatagrams, RcvbufErrors, ...). */
export async function udpCounter(ns: string, name: string): Promise<number> {
  const lines = (await execIn(ns, 'cat', ['/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((line) => line.trim().split(/\s+/));
  const index = names!.indexOf(name);
  if (index < 0) throw new Error(`/proc/net/snmp has no UDP counter ${name}`);
  return Number(values![index]);
}

const iperf3Port = 5201;

/** An iperf3 server in `ns`, listening once this resolves; stop() it or leave it to destroy(). */
export async function iperf3Server(ns: string, port = iperf3Port): Promise<Spawned> {
  const server = spawnIn(ns, 'iperf3', ['--server', '--port', String(port), '--forceflush']);
  await server.waitForLine(/Server listening/, 5000);
  return server;
}

export interface Iperf3Options {
  /** Default 2. */
  seconds?: number;
  /** The server sends (`iperf3 -R`). */
  reverse?: boolean;
  port?: number;
}

/** A TCP iperf3 run from `ns` to `address`; returns the receiver's bits per second. */
export async function iperf3Client(ns: string, address: string, opts: Iperf3Options = {}): Promise<number> {
  const seconds = opts.seconds ?? 2;
  const args = [
    '--client',
    address,
    '--port',
    String(opts.port ?? iperf3Port),
    '--time',
    String(seconds),
    '--json',
  ];
  if (opts.reverse) args.push('--reverse');
  // An iperf3 server still tearing down the previous test can reset the next client's control
  // connection before any data flows ("unable to receive control message"): iperf3's own race, not
  // the tunnel's, so such a run (nothing connected, nothing measured) is tried again, twice at most.
  for (let attempt = 1; ; attempt++) {
    // A failed run may exit non-zero: its JSON report is then at the end of the error's message.
    const output = await execIn(ns, 'iperf3', args, { timeoutMs: (seconds + 15) * 1000 }).catch(
      (error: Error) => error.message.slice(Math.max(0, error.message.indexOf('{'))),
    );
    let report: { error?: string; end?: { sum_received?: { bits_per_second?: unknown } } } = {};
    try {
      report = JSON.parse(output) as typeof report;
    } catch {
      // Not JSON: reported below with what iperf3 printed.
    }
    const bits = report.end?.sum_received?.bits_per_second;
    if (typeof bits === 'number') return bits;
    const controlRace = /unable to (receive|send) control message|server is busy/i.test(report.error ?? '');
    if (!controlRace || attempt === 3) throw new Error(`iperf3 reported no throughput:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
