// What the drop-in tests (test/interop/dropin*.test.ts) share: namespaces named `dq…`, our
// `phantommesh-helper INTERFACE` and Debian's `wireguard-go INTERFACE` started the way the reference
// test suite (wireguard-go's tests/netns.sh) starts them, key files for `wg`, and a cleanup that
// deletes every interface, daemon, socket and namespace a file created, wherever the interface went.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addNamespace,
  deleteNamespace,
  execIn,
  genKeyPair,
  genPsk,
  spawnIn,
  uniqueName,
  type KeyPair,
} from './netns.ts';

export const HELPER = new URL('../../helper/src/cli/phantommesh-helper.ts', import.meta.url).pathname;

export const socketOf = (name: string): string => `/var/run/wireguard/${name}.sock`;

/** A random 32-byte key in base64: a peer's public key that no test needs the private half of. */
export const randomKey = (): string => randomBytes(32).toString('base64');

/** The pids of the processes serving interface `name`, ours or wireguard-go (by command line). */
export function daemonsOf(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const daemon = argv.some(
        (arg) => arg.endsWith('phantommesh-helper.ts') || arg.endsWith('wireguard-go'),
      );
      if (daemon && argv.includes(name)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  for (const start = Date.now(); !(await check());) {
    if (Date.now() - start > timeoutMs) assert.fail(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export type Implementation = 'phantommesh' | 'wireguard-go';

/** One end of pairPeers: an interface, where `wg` reaches it and where it is, its port, and what it
 *  allows from the other end. */
export interface PeerEnd {
  name: string;
  wgNs: string;
  ns: string;
  port: number;
  allowedIps: string;
}

/** One test file's namespaces, interfaces and files; `destroy()` in after(). */
export class DropinWorld {
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly interfaces = new Set<string>();

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<DropinWorld> {
    const dir = await mkdtemp(join(tmpdir(), 'dq-'));
    await chmod(dir, 0o700);
    return new DropinWorld(dir);
  }

  /** A new namespace `dq…`, loopback up, IPv6 addresses usable at once (no DAD). */
  async namespace(): Promise<string> {
    const ns = uniqueName('dq-');
    await addNamespace(ns);
    this.namespaces.push(ns);
    return ns;
  }

  /**
   * `IMPLEMENTATION NAME` in `ns`, as netns.sh runs it (`n0 $program wg1`): it returns once the
   * interface and its UAPI socket exist and the daemon is in the background. LOG_LEVEL stays unset, so
   * the daemon's output goes nowhere.
   */
  async start(implementation: Implementation, ns: string, name = uniqueName('dq')): Promise<string> {
    this.interfaces.add(name);
    const env = { ...process.env };
    delete env.LOG_LEVEL;
    if (implementation === 'phantommesh') await execIn(ns, process.execPath, [HELPER, name], { env });
    else await execIn(ns, 'wireguard-go', [name], { env });
    return name;
  }

  /** A 0600 file in this world's root-only directory (keys and configurations for `wg`). */
  async file(name: string, text: string): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, text, { mode: 0o600 });
    return path;
  }

  /**
   * netns.sh's configure_peers, keys and peers: fresh key pairs (and a preshared key with `psk`), then
   * each end made the other's one peer with `wg set` (run in `wgNs`, where its daemon's UAPI socket
   * is), listening on its port, and both interfaces set up where they are (`ns`). Addresses are the
   * caller's. Returns the key pairs, `a`'s first.
   */
  async pairPeers(a: PeerEnd, b: PeerEnd, opts: { psk?: boolean } = {}): Promise<[KeyPair, KeyPair]> {
    const keys = await Promise.all([genKeyPair(), genKeyPair()]);
    const psk = opts.psk ? ['preshared-key', await this.file('psk', await genPsk())] : [];
    for (const [end, own, other, keyFile] of [
      [a, keys[0], keys[1], 'key1'],
      [b, keys[1], keys[0], 'key2'],
    ] as const) {
      await execIn(end.wgNs, 'wg', [
        'set',
        end.name,
        'private-key',
        await this.file(keyFile, own.privateKey),
        'listen-port',
        String(end.port),
        'peer',
        other.publicKey,
        ...psk,
        'allowed-ips',
        end.allowedIps,
      ]);
    }
    await execIn(a.ns, 'ip', ['link', 'set', 'up', 'dev', a.name]);
    await execIn(b.ns, 'ip', ['link', 'set', 'up', 'dev', b.name]);
    return keys;
  }

  /** Deletes the interfaces (in whatever namespace they went to), waits for their daemons, removes
   *  sockets, namespaces and files. */
  async destroy(): Promise<void> {
    for (const name of this.interfaces) {
      for (const ns of this.namespaces) await execIn(ns, 'ip', ['link', 'del', name]).catch(() => {});
      await until(`${name}'s daemon exits`, () => daemonsOf(name).length === 0).catch(() => {
        for (const pid of daemonsOf(name)) process.kill(pid, 'SIGKILL');
      });
      await rm(socketOf(name), { force: true });
    }
    for (const ns of this.namespaces.reverse()) await deleteNamespace(ns).catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Pings from `ns`, 20 ms apart (root may go below 200 ms), until `count` replies are back or the
 * deadline (default 5 s) passes; returns the replies. One ping (count 1) is one echo request that has
 * the deadline to come back. More are sent until `count` come back (ping's -c with -w), because with
 * -W ping gives up on the last replies two round trips after the first, which a loaded machine misses.
 */
export async function quickPing(
  ns: string,
  address: string,
  opts: { count?: number; size?: number; deadlineSeconds?: number } = {},
): Promise<number> {
  const count = opts.count ?? 5;
  const deadline = String(opts.deadlineSeconds ?? 5);
  const args = ['-n', '-q', '-c', String(count), '-i', '0.02', count === 1 ? '-W' : '-w', deadline];
  if (opts.size !== undefined) args.push('-s', String(opts.size), '-M', 'do');
  const output = await execIn(ns, 'ping', [...args, address]).catch((error: Error) => error.message);
  const received = /(\d+) received/.exec(output);
  if (!received) throw new Error(`ping ${address} from ${ns}: ${output}`);
  // With -w, ping keeps sending until `count` replies are in, and it reads every reply waiting before
  // it checks: replies that bunch up (big packets on a loaded machine) can make it count more.
  return Math.min(Number(received[1]), count);
}

export interface Iperf3Result {
  /** Bytes the client sent (with TCP, all of them delivered: iperf3 exits 0 only then). */
  sent: number;
  /** Bytes the receiving side counted (with TCP and -n, iperf3 stops counting early). */
  received: number;
  bitsPerSecond: number;
  /** UDP only: the receiver's lost datagrams, in percent. */
  lostPercent?: number;
}

/**
 * One iperf3 run: a one-off server (`-s -1 -B address`) in `serverNs`, the client in `clientNs`;
 * `bytes` (`-n`) or `seconds` (`-t`), TCP or UDP (`-u`, at `udpRate`).
 */
export async function iperf3(
  serverNs: string,
  clientNs: string,
  address: string,
  opts: { bytes?: string; seconds?: number; udp?: boolean; udpRate?: string; port?: number } = {},
): Promise<Iperf3Result> {
  const port = String(opts.port ?? 5201);
  const server = spawnIn(serverNs, 'iperf3', ['-s', '-1', '-B', address, '-p', port, '--forceflush']);
  try {
    await server.waitForLine(/Server listening/, 5000);
    const args = ['-c', address, '-p', port, '--json'];
    if (opts.seconds !== undefined) args.push('-t', String(opts.seconds));
    else args.push('-n', opts.bytes ?? '1M');
    if (opts.udp) args.push('-u', '-b', opts.udpRate ?? '200M');
    const output = await execIn(clientNs, 'iperf3', args, { timeoutMs: 20_000 });
    const end = (JSON.parse(output) as { end: Record<string, Record<string, number> | undefined> }).end;
    const { sum_sent: sent, sum_received: received } = end;
    if (!sent || !received) throw new Error(`iperf3 reported no summary:\n${output}`);
    return {
      sent: sent.bytes ?? 0,
      received: received.bytes ?? 0,
      bitsPerSecond: received.bits_per_second ?? 0,
      ...(opts.udp ? { lostPercent: received.lost_percent ?? 100 } : {}),
    };
  } finally {
    await server.stop(1000);
  }
}
