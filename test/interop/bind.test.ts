// The Linux UDP bind against the real kernel, each scenario in a network namespace of its own (see
// test/lib/run-in-netns.ts).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { PhantomError } from '../../shared/src/errors.ts';
import { parseIp, type Endpoint } from '../../shared/src/ip.ts';
import { openBind, type Bind } from '../../helper/src/conn/bind.ts';
import { UdpSender } from '../../helper/src/conn/udp-sender_linux.ts';
import { libc } from '../../helper/src/libc_linux.ts';
import { endpointOf } from '../../helper/src/conn/datagram-receiver_linux.ts';
import { SOCKADDR_MAX, writeSockaddr } from '../../helper/src/conn/sockaddr_linux.ts';
import { skipOutsideCi } from '../lib/netns.ts';
import { netnsUnavailable, scenarioRequested, scenarioRunner, serveScenario } from '../lib/run-in-netns.ts';

interface Received {
  text: string;
  from: Endpoint;
}

/** A bind that records what it receives and answers "re:<text>" to every datagram not itself an answer. */
async function echoBind(
  port = 0,
): Promise<{ bind: Bind; received: Received[]; next: () => Promise<Received> }> {
  const received: Received[] = [];
  const waiting: ((r: Received) => void)[] = [];
  const bind: Bind = await openBind({
    port,
    onDatagram: (packet, from) => {
      const entry = { text: packet.toString(), from };
      received.push(entry);
      if (!entry.text.startsWith('re:')) bind.send(Buffer.from(`re:${entry.text}`), from);
      waiting.shift()?.(entry);
    },
  });
  let taken = 0;
  const next = (): Promise<Received> =>
    taken < received.length
      ? Promise.resolve(received[taken++]!)
      : Promise.race([
          new Promise<Received>((resolve) => waiting.push((r) => (taken++, resolve(r)))),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('no datagram within 2 s')), 2000).unref(),
          ),
        ]);
  return { bind, received, next };
}

async function errorOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PhantomError, `not a PhantomError: ${String(error)}`);
    return { code: error.code, message: error.message };
  }
  throw new Error('did not fail');
}

const udpSockets = (): string => execFileSync('ss', ['-uanep'], { encoding: 'utf8' });
const loopbackUp = (): void => void execFileSync('ip', ['link', 'set', 'lo', 'up']);

// ---- scenarios, run inside the namespace

const scenarios = {
  async exchange() {
    loopbackUp();
    const a = await echoBind();
    const b = await echoBind();
    a.bind.send(Buffer.from('hello4'), { address: '127.0.0.1', port: b.bind.port, family: 4 });
    const atB4 = await b.next();
    const atA4 = await a.next();
    a.bind.send(Buffer.from('hello6'), { address: '::1', port: b.bind.port, family: 6 });
    const atB6 = await b.next();
    const atA6 = await a.next();
    const sockets = udpSockets();
    await a.bind.close();
    await b.bind.close();
    return {
      portA: a.bind.port,
      portB: b.bind.port,
      atB4,
      atA4,
      atB6,
      atA6,
      sockets,
      afterClose: udpSockets(),
    };
  },

  async portInUse() {
    loopbackUp();
    const a = await echoBind();
    const bothTaken = await errorOf(openBind({ port: a.bind.port, onDatagram: () => {} }));
    // Only the IPv6 side taken, by someone else.
    const other = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    await new Promise<void>((resolve) => other.bind(0, '::', resolve));
    const v6Taken = await errorOf(openBind({ port: other.address().port, onDatagram: () => {} }));
    return { port: a.bind.port, bothTaken, v6Port: other.address().port, v6Taken, sockets: udpSockets() };
  },

  async randomPortRetry() {
    loopbackUp();
    // Two ephemeral ports, the IPv6 side of one taken: port 0 must end up on the other one, retrying
    // whenever the kernel hands IPv4 the taken one.
    writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', '40000 40001');
    const other = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    await new Promise<void>((resolve) => other.bind(40000, '::', resolve));
    const ports: number[] = [];
    for (let i = 0; i < 5; i++) {
      const bind = await openBind({ port: 0, onDatagram: () => {} });
      ports.push(bind.port);
      await bind.close();
    }
    return { ports };
  },

  async buffers() {
    const bind = await openBind({ port: 0, onDatagram: () => {} });
    return { port: bind.port, memory: execFileSync('ss', ['-uanm'], { encoding: 'utf8' }) };
  },

  /** Datagrams through the UDP sender's GSO batching, received by a bind (recvmmsg). */
  async gsoBatches() {
    loopbackUp();
    const receiver = await echoBind();
    const { socket } = libc();
    const fds = [socket(2, 2, 0), socket(10, 2, 0)];
    const failures: number[] = [];
    const sender = new UdpSender(fds, (errno) => failures.push(errno));
    const entry = (text: string, size: number, family: 4 | 6, port = receiver.bind.port) => ({
      packet: Buffer.concat([Buffer.from(text), Buffer.alloc(size - text.length, 0x2e)]),
      family,
      address: Buffer.from(parseIp(family === 4 ? '127.0.0.1' : '::1')!).subarray(0, 16),
      port,
    });
    const sent = [
      // one batch of 40 equal datagrams and a shorter last one
      ...Array.from({ length: 40 }, (_, i) => entry(`re:a${i}`, 1400, 4)),
      entry('re:a-last', 300, 4),
      // a bigger one cannot join a batch of smaller ones
      entry('re:b0', 500, 4),
      entry('re:b1', 900, 4),
      entry('re:b2', 900, 4),
      // nor one to another family
      entry('re:c0', 900, 6),
      entry('re:c1', 900, 6),
      // more than 64 in a row split into several batches
      ...Array.from({ length: 70 }, (_, i) => entry(`re:d${i}`, 200, 6)),
    ];
    for (const e of sent) sender.add(e);
    sender.flush();
    const received: Received[] = [];
    while (received.length < sent.length) received.push(await receiver.next());
    await receiver.bind.close();
    return {
      failures,
      // The label and the length, not the padding: the result travels back as one JSON line.
      sent: sent.map((e) => ({
        text: `${e.packet.toString().replace(/\.+$/, '')}/${e.packet.length}`,
        family: e.family,
      })),
      received: received.map((r) => ({
        text: `${r.text.replace(/\.+$/, '')}/${r.text.length}`,
        family: r.from.family,
      })),
    };
  },

  async fwmark() {
    loopbackUp();
    const a = await openBind({ port: 0, fwmark: 0xca6c, onDatagram: () => {} });
    const marked = udpSockets();
    a.setFwmark(0x1234);
    const remarked = udpSockets();
    a.setFwmark(0);
    const cleared = udpSockets();
    return { port: a.port, marked, remarked, cleared };
  },
};

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  const skip = skipOutsideCi(netnsUnavailable());
  const run = scenarioRunner(import.meta.url, scenarios);
  /** ss lines of UDP sockets bound to `port`. */
  const linesFor = (ss: string, port: number): string[] =>
    ss.split('\n').filter((line) => new RegExp(`(0\\.0\\.0\\.0|\\[::\\]):${port}\\s`).test(line));

  test(
    'two binds exchange datagrams over IPv4 and IPv6 and see each other as senders',
    { skip },
    async () => {
      const r = await run('exchange');
      assert.notEqual(r.portA, r.portB);
      assert.deepEqual(r.atB4, { text: 'hello4', from: { address: '127.0.0.1', port: r.portA, family: 4 } });
      assert.deepEqual(r.atA4, {
        text: 're:hello4',
        from: { address: '127.0.0.1', port: r.portB, family: 4 },
      });
      assert.deepEqual(r.atB6, { text: 'hello6', from: { address: '::1', port: r.portA, family: 6 } });
      assert.deepEqual(r.atA6, { text: 're:hello6', from: { address: '::1', port: r.portB, family: 6 } });
      for (const port of [r.portA, r.portB]) {
        const lines = linesFor(r.sockets, port);
        assert.equal(lines.length, 2, `one IPv4 and one IPv6 socket on ${port}:\n${r.sockets}`);
        assert.ok(lines.some((line) => line.includes('0.0.0.0:') && !line.includes('v6only')));
        assert.ok(lines.some((line) => line.includes('[::]:') && line.includes('v6only:1')));
        assert.deepEqual(linesFor(r.afterClose, port), [], 'close() closes both sockets');
      }
    },
  );

  test('a port in use is reported as PORT_IN_USE', { skip }, async () => {
    const r = await run('portInUse');
    assert.deepEqual(r.bothTaken, { code: 'PORT_IN_USE', message: `UDP port ${r.port} is already in use` });
    assert.deepEqual(r.v6Taken, { code: 'PORT_IN_USE', message: `UDP port ${r.v6Port} is already in use` });
    assert.equal(linesFor(r.sockets, r.v6Port).length, 1, 'the failed bind left no IPv4 socket behind');
  });

  test('port 0 retries until a port is free for both families', { skip }, async () => {
    const { ports } = await run('randomPortRetry');
    assert.deepEqual(ports, [40001, 40001, 40001, 40001, 40001]);
  });

  test(
    'GSO batches arrive as the datagrams they were, in order, whatever their sizes and families',
    { skip },
    async () => {
      const r = await run('gsoBatches');
      assert.deepEqual(r.failures, []);
      assert.equal(r.received.length, 116);
      assert.deepEqual(r.received, r.sent);
    },
  );

  test('setFwmark sets SO_MARK on both sockets and 0 clears it', { skip }, async () => {
    const r = await run('fwmark');
    const marks = (ss: string): string[] =>
      linesFor(ss, r.port).map((line) => /fwmark:(0x[0-9a-f]+)/.exec(line)?.[1] ?? 'none');
    assert.deepEqual(marks(r.marked), ['0xca6c', '0xca6c']);
    assert.deepEqual(marks(r.remarked), ['0x1234', '0x1234']);
    assert.deepEqual(marks(r.cleared), ['none', 'none']);
  });

  test('as root the sockets get 7 MB buffers whatever net.core.rmem_max says', { skip }, async () => {
    const r = await run('buffers');
    // ss prints the address line, then the socket's memory on the next one; the kernel doubles the size.
    const lines = r.memory.split('\n');
    const sizes = lines.flatMap((line, i) =>
      line.includes(`:${r.port} `)
        ? [
            /rb(\d+),t\d+,tb(\d+)/
              .exec(lines[i + 1]!)!
              .slice(1)
              .map(Number),
          ]
        : [],
    );
    assert.deepEqual(sizes, [
      [2 * 7 * 2 ** 20, 2 * 7 * 2 ** 20],
      [2 * 7 * 2 ** 20, 2 * 7 * 2 ** 20],
    ]);
  });

  test('senders: IPv4-mapped IPv6 comes out as plain IPv4, a zone as its interface name', () => {
    const name = (family: 4 | 6, address: string, port: number, scopeId = 0) => {
      const out = Buffer.alloc(SOCKADDR_MAX);
      writeSockaddr(out, family, parseIp(address)!, port, scopeId);
      return out;
    };
    assert.deepEqual(endpointOf(name(6, '::ffff:192.0.2.7', 51820)), {
      address: '192.0.2.7',
      port: 51820,
      family: 4,
    });
    assert.deepEqual(endpointOf(name(6, '2001:db8::7', 1)), { address: '2001:db8::7', port: 1, family: 6 });
    assert.deepEqual(endpointOf(name(4, '203.0.113.9', 2)), { address: '203.0.113.9', port: 2, family: 4 });
    // Interface 1 is the loopback in every namespace.
    assert.deepEqual(endpointOf(name(6, 'fe80::1', 3, 1)), { address: 'fe80::1%lo', port: 3, family: 6 });
  });
}
