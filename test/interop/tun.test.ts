// The Linux TUN device and iproute2 configuration against the real kernel, each scenario in a network
// namespace of its own (see test/lib/run-in-netns.ts).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PhantomError } from '../../shared/src/errors.ts';
import { parsePrefix, type IpPrefix } from '../../shared/src/ip.ts';
import { openTun } from '../../helper/src/tun/tun.ts';
import * as net from '../../helper/src/net/net_linux.ts';
import { skipOutsideCi } from '../lib/netns.ts';
import { netnsUnavailable, scenarioRequested, scenarioRunner, serveScenario } from '../lib/run-in-netns.ts';

const tunName = (): string => `pmt-${randomBytes(3).toString('hex')}`;
const prefix = (text: string): IpPrefix => parsePrefix(text)!;

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An IPv4 ICMP echo request with correct header and ICMP checksums. */
function echoRequest(src: number[], dst: number[], id: number, seq: number, payload: Buffer): Buffer {
  const packet = Buffer.alloc(20 + 8 + payload.length);
  packet[0] = 0x45;
  packet.writeUInt16BE(packet.length, 2);
  packet.writeUInt16BE(0x4000, 6); // don't fragment
  packet[8] = 64; // TTL
  packet[9] = 1; // ICMP
  packet.set(src, 12);
  packet.set(dst, 16);
  packet.writeUInt16BE(checksum(packet.subarray(0, 20)), 10);
  packet[20] = 8; // echo request
  packet.writeUInt16BE(id, 24);
  packet.writeUInt16BE(seq, 26);
  payload.copy(packet, 28);
  packet.writeUInt16BE(checksum(packet.subarray(20)), 22);
  return packet;
}

const timeout = (ms: number, what: string): Promise<never> =>
  new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms).unref(),
  );

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PhantomError, `not a PhantomError: ${String(error)}`);
    return { code: error.code, message: error.message };
  }
  throw new Error('did not throw');
}

// ---- scenarios, run inside the namespace

const scenarios = {
  async echo() {
    const name = tunName();
    const tun = openTun(name);
    await net.addAddress(name, prefix('192.0.2.1/24'));
    await net.setLinkUp(name, 1420);
    const reply = new Promise<string>((resolve) =>
      // The kernel may also send IPv6 router solicitations; wait for the ICMPv4 answer.
      tun.start((packet) => {
        if (packet[0] === 0x45 && packet[9] === 1) resolve(packet.toString('hex'));
      }),
    );
    const request = echoRequest(
      [192, 0, 2, 2],
      [192, 0, 2, 1],
      0x5a5a,
      7,
      Buffer.from('phantommesh tun test'),
    );
    const written = tun.write(request);
    return {
      name,
      written,
      request: request.toString('hex'),
      reply: await Promise.race([reply, timeout(3000, 'echo reply')]),
    };
  },

  async taken() {
    const name = tunName();
    openTun(name);
    return { again: errorOf(() => openTun(name)), loopback: errorOf(() => openTun('lo')) };
  },

  async deleted() {
    const name = tunName();
    const tun = openTun(name);
    await net.setLinkUp(name, 1420);
    tun.start(() => {});
    const started = performance.now();
    await net.deleteLink(name);
    const reason = await Promise.race([tun.closed, timeout(3000, 'closed')]);
    return {
      reason,
      detectedMs: performance.now() - started,
      writeAfter: tun.write(Buffer.alloc(28)),
      exists: await net.linkExists(name),
    };
  },

  async close() {
    const name = tunName();
    const tun = openTun(name);
    tun.start(() => {});
    const existed = await net.linkExists(name);
    tun.close();
    return {
      existed,
      reason: await tun.closed,
      exists: await net.linkExists(name),
      writeAfter: tun.write(Buffer.alloc(28)),
    };
  },

  async unprivileged() {
    return errorOf(() => openTun(tunName()));
  },

  async noDevice() {
    // Run with a private mount namespace: the empty tmpfs hides /dev/net/tun from this process only.
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', '/dev/net']);
    return errorOf(() => openTun(tunName()));
  },

  async net() {
    const name = tunName();
    openTun(name);
    await net.addAddress(name, prefix('192.0.2.1/24'));
    await net.addAddress(name, prefix('fd00:70::1/64'));
    await net.setLinkUp(name, 1380);
    // Host bits set, as AllowedIPs may have them: the route must name the network.
    await net.addRoute(name, prefix('198.51.100.7/24'));
    await net.addRoute(name, prefix('2001:db8:7::/48'), '51820');
    const ip = (...args: string[]): unknown =>
      JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8' }));
    const link = ip('link', 'show', 'dev', name);
    const addresses = ip('address', 'show', 'dev', name);
    const mainRoutes = ip('route', 'show', 'dev', name);
    const tableRoutes = ip('-6', 'route', 'show', 'table', '51820');
    await net.deleteRoute(name, prefix('198.51.100.0/24'));
    await net.deleteRoute(name, prefix('2001:db8:7::/48'), '51820');
    const afterDelete = {
      main: ip('route', 'show', 'dev', name),
      table: ip('-6', 'route', 'show', 'table', '51820'),
    };
    let missing: { code: string; message: string } | undefined;
    try {
      await net.addAddress('pmt-missing', prefix('192.0.2.9/24'));
    } catch (error) {
      if (error instanceof PhantomError) missing = { code: error.code, message: error.message };
    }
    return {
      name,
      link,
      addresses,
      mainRoutes,
      tableRoutes,
      afterDelete,
      missing,
      exists: await net.linkExists(name),
    };
  },
};

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  const skip = skipOutsideCi(netnsUnavailable());
  const run = scenarioRunner(import.meta.url, scenarios);

  test('interface names the kernel would reject or rewrite are refused before any system call', () => {
    for (const name of ['', 'x'.repeat(16), 'a/b', 'a:b', 'a b', 'tun%d', '.', '..']) {
      const error = errorOf(() => openTun(name));
      assert.equal(error.code, 'TUN_NAME_INVALID', name);
    }
    assert.match(errorOf(() => openTun('x'.repeat(16))).message, /1 to 15 bytes/);
  });

  test('the kernel answers an ICMP echo request written to the TUN', { skip }, async () => {
    const { written, request, reply } = await run('echo');
    assert.equal(written, true);
    const req = Buffer.from(request, 'hex');
    const rep = Buffer.from(reply, 'hex');
    assert.equal(rep.length, req.length);
    assert.deepEqual([...rep.subarray(12, 16)], [192, 0, 2, 1], 'source');
    assert.deepEqual([...rep.subarray(16, 20)], [192, 0, 2, 2], 'destination');
    assert.equal(checksum(rep.subarray(0, 20)), 0, 'IPv4 header checksum');
    assert.equal(rep[20], 0, 'ICMP echo reply');
    assert.equal(checksum(rep.subarray(20)), 0, 'ICMP checksum');
    assert.deepEqual(rep.subarray(24), req.subarray(24), 'id, sequence and payload echoed');
  });

  test('a name that is already an interface is refused', { skip }, async () => {
    const { again, loopback } = await run('taken');
    assert.equal(again.code, 'TUN_NAME_TAKEN');
    assert.match(again.message, /pmt-[0-9a-f]{6} already exists/);
    assert.deepEqual(loopback, {
      code: 'TUN_NAME_TAKEN',
      message: 'a network interface named lo already exists',
    });
  });

  test('`ip link del` resolves closed', { skip }, async (t) => {
    const result = await run('deleted');
    t.diagnostic(`noticed ${result.detectedMs.toFixed(1)} ms after running ip link del (ip itself included)`);
    assert.match(result.reason, /^interface pmt-[0-9a-f]{6} was deleted$/);
    assert.equal(result.writeAfter, false);
    assert.equal(result.exists, false);
  });

  test('close() resolves closed and removes the interface', { skip }, async () => {
    assert.deepEqual(await run('close'), {
      existed: true,
      reason: 'closed',
      exists: false,
      writeAfter: false,
    });
  });

  test('without CAP_NET_ADMIN the error says so', { skip }, async () => {
    const error = await run('unprivileged', { withoutCapabilities: true });
    assert.equal(error.code, 'PERMISSION_DENIED');
    assert.match(error.message, /needs root \(CAP_NET_ADMIN\): TUNSETIFF: Operation not permitted/);
  });

  test('without /dev/net/tun the error says so', { skip }, async () => {
    const error = await run('noDevice', { privateMounts: true });
    assert.equal(error.code, 'TUN_UNAVAILABLE');
    assert.match(error.message, /^\/dev\/net\/tun is missing .*: No such file or directory$/);
  });

  test('net/linux configures addresses, MTU, link state and routes through ip', { skip }, async () => {
    const r = (await run('net')) as unknown as {
      name: string;
      link: { mtu: number; flags: string[] }[];
      addresses: { addr_info: { local: string; prefixlen: number }[] }[];
      mainRoutes: { dst: string }[];
      tableRoutes: { dst: string }[];
      afterDelete: { main: { dst: string }[]; table: { dst: string }[] };
      missing: { code: string; message: string } | undefined;
      exists: boolean;
    };
    assert.equal(r.link[0]!.mtu, 1380);
    assert.ok(r.link[0]!.flags.includes('UP'));
    const local = r.addresses[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
    assert.ok(local.includes('192.0.2.1/24') && local.includes('fd00:70::1/64'), local.join(' '));
    assert.ok(r.mainRoutes.some((route) => route.dst === '198.51.100.0/24'));
    assert.deepEqual(
      r.tableRoutes.map((route) => route.dst),
      ['2001:db8:7::/48'],
    );
    assert.ok(!r.afterDelete.main.some((route) => route.dst === '198.51.100.0/24'));
    assert.deepEqual(r.afterDelete.table, []);
    assert.equal(r.missing?.code, 'NET_CONFIG_FAILED');
    assert.match(
      r.missing!.message,
      /^ip -4 address add 192\.0\.2\.9\/24 dev pmt-missing failed: .*Cannot find device/,
    );
    assert.equal(r.exists, true);
  });
}
