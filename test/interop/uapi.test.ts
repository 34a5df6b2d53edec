// The UAPI server driven by the real `wg` (wireguard-tools) over /var/run/wireguard. Needs root and `wg`.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatPrefix, type IpPrefix } from '../../shared/src/ip.ts';
import { PhantomError } from '../../shared/src/errors.ts';
import { serveUapi, type UapiServer } from '../../helper/src/uapi/server.ts';
import type { UapiDevice } from '../../helper/src/uapi/types.ts';
import {
  DeviceConfigError,
  type DeviceChange,
  type DeviceSnapshot,
  type PeerSnapshot,
} from '../../helper/src/wireguard/config.ts';

/**
 * Stands for the real device in this protocol-level test: it keeps the settings and applies a change
 * the way wireguard-go does, after an await, like the real device rebinding its socket. A test can
 * hold changes at `gate` and see how many wait there in `waiting`.
 */
function memoryDevice() {
  const state = { privateKey: null as Uint8Array | null, listenPort: 0, fwmark: 0 };
  const peers = new Map<string, { snapshot: PeerSnapshot; allowed: Map<string, IpPrefix> }>();
  const device: UapiDevice & { peers: typeof peers; gate: Promise<void>; waiting: number } = {
    peers,
    gate: Promise.resolve(),
    waiting: 0,
    snapshot(): DeviceSnapshot {
      return {
        ...state,
        peers: [...peers.values()].map(({ snapshot, allowed }) => ({
          ...snapshot,
          allowedIps: [...allowed.values()],
        })),
      };
    },
    async apply(change: DeviceChange) {
      device.waiting++;
      await Promise.all([device.gate, new Promise((resolve) => setTimeout(resolve, 1))]);
      device.waiting--;
      if (change.privateKey !== undefined) state.privateKey = change.privateKey;
      if (change.listenPort !== undefined) state.listenPort = change.listenPort;
      if (change.fwmark !== undefined) state.fwmark = change.fwmark;
      if (change.replacePeers) peers.clear();
      for (const peerChange of change.peers) {
        const id = Buffer.from(peerChange.publicKey).toString('hex');
        if (peerChange.remove) {
          peers.delete(id);
          continue;
        }
        if (!peers.has(id) && peerChange.updateOnly) continue;
        const peer = peers.get(id) ?? {
          snapshot: {
            publicKey: peerChange.publicKey,
            presharedKey: null,
            endpoint: null,
            persistentKeepalive: 0,
            lastHandshake: null,
            rxBytes: 0n,
            txBytes: 0n,
            allowedIps: [],
          },
          allowed: new Map(),
        };
        peers.set(id, peer);
        if (peerChange.presharedKey !== undefined) peer.snapshot.presharedKey = peerChange.presharedKey;
        if (peerChange.endpoint) peer.snapshot.endpoint = peerChange.endpoint;
        if (peerChange.persistentKeepalive !== undefined)
          peer.snapshot.persistentKeepalive = peerChange.persistentKeepalive;
        if (peerChange.replaceAllowedIps) peer.allowed.clear();
        for (const prefix of peerChange.removeAllowedIps) peer.allowed.delete(formatPrefix(prefix));
        for (const prefix of peerChange.addAllowedIps) peer.allowed.set(formatPrefix(prefix), prefix);
      }
    },
  };
  return device;
}

function wg(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('wg', args, { maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`wg ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

/** Sends raw bytes and collects what the server answers until it has `replies` errno lines or hangs up. */
function rawRequest(path: string, text: string, replies: number, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(path, () => (halfClose ? socket.end(text) : socket.write(text)));
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      answer += data;
      if ((answer.match(/^errno=-?\d+\n\n/gm) ?? []).length >= replies) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

const name = `pmu-${randomBytes(4).toString('hex')}`;
const device = memoryDevice();
const logged: string[] = [];
let server: UapiServer;
let files: string;
let privateKey: string;
let publicKey: string;
let peerKey: string;
let presharedKey: string;

before(async () => {
  server = await serveUapi(name, device, { log: (line) => logged.push(line) });
  files = await mkdtemp(join(tmpdir(), 'pmu-'));
  privateKey = (await wg(['genkey'])).trim();
  publicKey = (await wg(['pubkey'], privateKey)).trim();
  peerKey = (await wg(['pubkey'], (await wg(['genkey'])).trim())).trim();
  presharedKey = (await wg(['genpsk'])).trim();
  await writeFile(join(files, 'private'), privateKey + '\n', { mode: 0o600 });
  await writeFile(join(files, 'psk'), presharedKey + '\n', { mode: 0o600 });
});

after(async () => {
  await server.close();
  await rm(files, { recursive: true, force: true });
});

test('the socket is /var/run/wireguard/NAME.sock, closed to group and others', async () => {
  assert.equal(server.path, `/var/run/wireguard/${name}.sock`);
  const info = await stat(server.path);
  assert.ok(info.isSocket());
  assert.equal(info.mode & 0o077, 0);
  assert.match(await wg(['show', 'interfaces']), new RegExp(`(^|\\s)${name}(\\s|$)`));
});

test('`wg show` of an empty device', async () => {
  assert.equal(await wg(['show', name]), `interface: ${name}\n`);
  assert.equal(await wg(['show', name, 'dump']), '(none)\t(none)\t0\toff\n');
});

test('`wg set` with every peer option reaches the device and `wg show` prints it back', async () => {
  await wg([
    'set',
    name,
    'private-key',
    join(files, 'private'),
    'listen-port',
    '51999',
    'fwmark',
    '0x1234',
    'peer',
    peerKey,
    'preshared-key',
    join(files, 'psk'),
    'endpoint',
    '[2001:db8::1]:51820',
    'persistent-keepalive',
    '25',
    'allowed-ips',
    '192.0.2.0/24,fd00::/64',
  ]);
  const peer = device.peers.get(Buffer.from(peerKey, 'base64').toString('hex'));
  assert.ok(peer);
  assert.deepEqual(peer.snapshot.endpoint, { address: '2001:db8::1', port: 51820, family: 6 });
  assert.equal(Buffer.from(peer.snapshot.presharedKey ?? []).toString('base64'), presharedKey);

  // Counters and handshake time come from the device; `wg` must read them from our get=1 answer.
  peer.snapshot.rxBytes = 1234567n;
  peer.snapshot.txBytes = 89n;
  peer.snapshot.lastHandshake = { sec: 1700000000, nsec: 5 };
  assert.equal(
    await wg(['show', name, 'dump']),
    `${privateKey}\t${publicKey}\t51999\t0x1234\n` +
      `${peerKey}\t${presharedKey}\t[2001:db8::1]:51820\t192.0.2.0/24,fd00::/64\t1700000000\t1234567\t89\t25\n`,
  );
  const show = await wg(['show', name]);
  for (const part of [
    `interface: ${name}\n  public key: ${publicKey}\n  private key: (hidden)\n  listening port: 51999\n  fwmark: 0x1234\n`,
    `\n  endpoint: [2001:db8::1]:51820\n  allowed ips: 192.0.2.0/24, fd00::/64\n`,
    '\n  transfer: 1.18 MiB received, 89 B sent\n  persistent keepalive: every 25 seconds\n',
  ])
    assert.ok(show.includes(part), `${JSON.stringify(part)} in ${JSON.stringify(show)}`);
});

test('`wg showconf` output feeds `wg setconf` back to the same state', async () => {
  const dumped = await wg(['show', name, 'dump']);
  const conf = await wg(['showconf', name]);
  for (const part of [
    `[Interface]\nListenPort = 51999\nFwMark = 0x1234\nPrivateKey = ${privateKey}\n\n[Peer]\nPublicKey = ${peerKey}\n`,
    '\nAllowedIPs = 192.0.2.0/24, fd00::/64\nEndpoint = [2001:db8::1]:51820\nPersistentKeepalive = 25\n',
  ])
    assert.ok(conf.includes(part), `${JSON.stringify(part)} in ${JSON.stringify(conf)}`);
  await writeFile(join(files, 'showconf.conf'), conf);
  await wg(['setconf', name, join(files, 'showconf.conf')]);
  // setconf replaces the peers, so counters and handshake time start again from zero.
  assert.equal(
    await wg(['show', name, 'dump']),
    dumped.replace(/\t1700000000\t1234567\t89\t/, '\t0\t0\t0\t'),
  );
});

test('`wg set peer remove` removes the peer', async () => {
  await wg(['set', name, 'peer', peerKey, 'remove']);
  assert.equal(device.peers.size, 0);
  assert.doesNotMatch(await wg(['show', name]), /peer:/);
});

test('a `wg setconf` with 255*256*2 allowed IPs goes through and reads back', async () => {
  const other = (await wg(['pubkey'], (await wg(['genkey'])).trim())).trim();
  const lines = [`[Interface]`, `PrivateKey = ${privateKey}`, `ListenPort = 51998`];
  const sections: [string, (i: number, j: number) => string][] = [
    [peerKey, (i, j) => `10.${i}.${j}.0/24`],
    [other, (i, j) => `abcd:${i.toString(16)}:${j.toString(16)}::/48`],
  ];
  for (const [key, prefix] of sections) {
    lines.push('[Peer]', `PublicKey = ${key}`);
    for (let i = 0; i < 255; i++)
      lines.push(`AllowedIPs = ${Array.from({ length: 256 }, (_, j) => prefix(i, j)).join(', ')}`);
  }
  await writeFile(join(files, 'big.conf'), lines.join('\n') + '\n');
  await wg(['setconf', name, join(files, 'big.conf')]);
  assert.deepEqual(
    [...device.peers.values()].map((peer) => peer.allowed.size),
    [255 * 256, 255 * 256],
  );
  const allowed = (await wg(['show', name, 'allowed-ips'])).trim().split('\n');
  assert.deepEqual(
    allowed.map((line) => line.split(/\s+/).length - 1),
    [255 * 256, 255 * 256],
  );
  assert.match(allowed[1] ?? '', / abcd:fe:ff::\/48$/);
});

test('bad requests get an errno answer and the connection goes on', async () => {
  const answer = await rawRequest(
    server.path,
    'set=1\nlisten_port=banana\n\nset=1\nno equals sign\n\nhello=1\n\nget=1\nextra=1\n\nset=1\nlisten_port=40000\n\nget=1\n\n',
    6,
  );
  const replies = answer.split(/(?<=errno=-?\d+\n\n)/);
  assert.deepEqual(replies.slice(0, 5), [
    'errno=-22\n\n',
    'errno=-71\n\n',
    'errno=-71\n\n',
    'errno=-22\n\n',
    'errno=0\n\n',
  ]);
  assert.match(replies[5] ?? '', /^private_key=[0-9a-f]{64}\nlisten_port=40000\n(.*\n)*errno=0\n\n$/);
  assert.ok(logged.some((line) => line.includes('listen_port: ')));
  assert.ok(!logged.some((line) => line.includes('banana')), 'values are never echoed');
});

test('an over-long line gets errno=-71 and a hang-up; the server keeps serving', async () => {
  const answer = await rawRequest(server.path, 'set=1\nlisten_port=' + '1'.repeat(100_000) + '\n\n', 1);
  assert.equal(answer, 'errno=-71\n\n');
  assert.match(await wg(['show', name]), /listening port: 40000/);
});

test('a set request ended by EOF (half-close) is applied and answered', async () => {
  assert.equal(await rawRequest(server.path, 'set=1\nlisten_port=40001\n', 1, true), 'errno=0\n\n');
  assert.equal(device.snapshot().listenPort, 40001);
});

test('requests from different connections are answered one at a time: a get waits for a set', async () => {
  let release = () => {};
  device.gate = new Promise((resolve) => (release = resolve));
  const set = rawRequest(server.path, 'set=1\nlisten_port=40002\n\n', 1);
  while (device.waiting === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  let got = '';
  const get = rawRequest(server.path, 'get=1\n\n', 1).then((answer) => (got = answer));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(got, '');
  release();
  assert.equal(await set, 'errno=0\n\n');
  await get;
  assert.match(got, /\nlisten_port=40002\n/);
});

test("the device's refusals get wireguard-go's errnos; a set carries the server's clock", async () => {
  const directory = await mkdtemp(join(tmpdir(), 'pmu-'));
  const times: number[] = [];
  const refusing = {
    ...memoryDevice(),
    async apply(change: DeviceChange, now: number) {
      times.push(now);
      if (change.listenPort === 1) throw new DeviceConfigError('ADDRESS_IN_USE', 'port 1 is taken');
      if (change.listenPort === 2) throw new DeviceConfigError('INVALID', 'port 2 is not one');
    },
  };
  const refuser = await serveUapi('pmu-refuse', refusing, { directory, now: () => 1234 });
  try {
    assert.equal(await rawRequest(refuser.path, 'set=1\nlisten_port=1\n\n', 1), 'errno=-98\n\n');
    assert.equal(await rawRequest(refuser.path, 'set=1\nlisten_port=2\n\n', 1), 'errno=-22\n\n');
    assert.deepEqual(times, [1234, 1234]);
  } finally {
    await refuser.close();
    await rm(directory, { recursive: true, force: true });
  }
});

test('serving a name twice is refused; a stale socket is replaced; close removes the socket', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'pmu-'));
  try {
    const path = join(directory, 'sub', 'pmu-test.sock');
    const first = await serveUapi('pmu-test', memoryDevice(), { directory: join(directory, 'sub') });
    assert.equal(first.path, path);
    await assert.rejects(
      serveUapi('pmu-test', memoryDevice(), { directory: join(directory, 'sub') }),
      (error: unknown) => error instanceof PhantomError && error.code === 'INTERFACE_EXISTS',
    );
    await first.close();
    assert.equal(existsSync(path), false);

    // A second name for a listening socket stays behind, unanswered, once the listener closes.
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(join(directory, 'dead.sock'), resolve));
    linkSync(join(directory, 'dead.sock'), path);
    await new Promise((resolve) => dead.close(resolve));
    const second = await serveUapi('pmu-test', memoryDevice(), { directory: join(directory, 'sub') });
    assert.match(await rawRequest(path, 'get=1\n\n', 1), /^errno=0\n\n$/);
    await second.close();

    await assert.rejects(
      serveUapi('../etc', memoryDevice(), { directory }),
      (error: unknown) => error instanceof PhantomError && error.code === 'INTERFACE_NAME_INVALID',
    );
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});
