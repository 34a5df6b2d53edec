// One control session and the broadcaster, without a socket: the session serves one end of an
// in-memory duplex pair, the test is the client at the other end.

import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { duplexPair, Writable, type Duplex } from 'node:stream';
import { test } from 'node:test';
import { encodeFrame, FrameDecoder } from '../../shared/src/control/framing.ts';
import { HELLO_REQUIRED, PROTOCOL_VERSION, RATE_LIMITED } from '../../shared/src/control/protocol.ts';
import { Broadcaster, MAX_EVENT_BACKLOG_BYTES } from '../../helper/src/control/broadcaster.ts';
import type { Caller } from '../../helper/src/control/listener.ts';
import {
  MAX_IN_FLIGHT,
  REQUEST_BURST,
  serveSession,
  type Handlers,
} from '../../helper/src/control/session.ts';

const ROOT: Caller = { uid: 0, gid: 0, pid: 1, isRoot: true };
const settings = { killSwitch: false, allowLan: true, lockdown: false, autoConnect: null, metricsPort: null };

interface Answer {
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data: { code: string } };
  method?: string;
  params?: unknown;
}

const request = (id: number, method: string, params: unknown = {}) =>
  encodeFrame({ jsonrpc: '2.0', id, method, params });
const hello = (id = 0, protocolVersion = PROTOCOL_VERSION) =>
  request(id, 'hello', { protocolVersion, client: 'test' });

/** A session on one side of a duplex pair; `answers(n)` reads the next n frames on the other side. */
function session(
  handlers: Partial<Handlers>,
  subscribers = new Broadcaster(() => {}),
  helloTimeoutMs?: number,
) {
  const [client, server] = duplexPair();
  const log: string[] = [];
  serveSession(server, ROOT, {
    handlers: handlers as Handlers,
    helperVersion: '9.9.9',
    subscribers,
    log: (line) => log.push(line),
    ...(helloTimeoutMs === undefined ? {} : { helloTimeoutMs }),
  });
  const decoder = new FrameDecoder();
  const received: Answer[] = [];
  let wanted = 0;
  let wake = () => {};
  const startReading = () =>
    client.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) received.push(JSON.parse(body.toString('utf8')) as Answer);
      if (received.length >= wanted) wake();
    });
  let reading = false;
  const answers = async (n: number): Promise<Answer[]> => {
    if (!reading) {
      reading = true;
      startReading();
    }
    wanted = n;
    while (received.length < n) await new Promise<void>((resolve) => (wake = resolve));
    return received.splice(0, n);
  };
  return { client, server, log, answers };
}

const errorCode = (answer: Answer) => answer.error?.data.code;

/** Waits a few event-loop turns at a time for `condition`; fails (instead of spinning) after 5 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within 5 s`);
    await turn();
  }
}

test('hello comes first; then requests reach the handlers with the caller', { timeout: 10_000 }, async () => {
  const { client, answers } = session({
    'settings.get': async (_params, caller) => ({ ...settings, metricsPort: caller.pid + 9000 }),
  });
  client.write(request(1, 'settings.get'));
  client.write(hello(2));
  client.write(request(3, 'settings.get'));
  const [refused, greeted, answered] = await answers(3);
  assert.equal(refused!.id, 1);
  assert.equal(errorCode(refused!), HELLO_REQUIRED);
  assert.deepEqual(greeted!.result, { protocolVersion: PROTOCOL_VERSION, helperVersion: '9.9.9' });
  assert.deepEqual(answered, { jsonrpc: '2.0', id: 3, result: { ...settings, metricsPort: 9001 } });
});

test(
  'a hello of another protocol version is refused, naming who is out of date',
  { timeout: 10_000 },
  async () => {
    const { client, answers } = session({});
    client.write(hello(1, PROTOCOL_VERSION + 1));
    client.write(request(2, 'settings.get'));
    const [mismatch, stillRefused] = await answers(2);
    assert.equal(errorCode(mismatch!), 'VERSION_MISMATCH');
    assert.match(mismatch!.error!.message, /^helper out of date/);
    assert.equal(errorCode(stillRefused!), HELLO_REQUIRED);
  },
);

test(
  'a burst past the token bucket is answered RATE_LIMITED, every request answered in order',
  { timeout: 10_000 },
  async () => {
    const { client, answers } = session({});
    const count = REQUEST_BURST + 600;
    client.write(Buffer.concat(Array.from({ length: count }, (_, id) => request(id, 'settings.get'))));
    const all = await answers(count);
    assert.deepEqual(
      all.map((answer) => answer.id),
      all.map((_, id) => id),
    );
    assert.ok(all.slice(0, REQUEST_BURST).every((answer) => errorCode(answer) === HELLO_REQUIRED));
    const limited = all.filter((answer) => errorCode(answer) === RATE_LIMITED).length;
    // The bucket refills at 200 a second while the burst is parsed; most of the excess stays refused.
    assert.ok(limited > 400, `${limited} rate limited`);
  },
);

test(
  'past MAX_IN_FLIGHT running handlers the connection is not read, and is again once they finish',
  { timeout: 10_000 },
  async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const { client, server, answers } = session({
      'settings.get': async () => {
        started++;
        await gate;
        return settings;
      },
    });
    const extra = 5;
    client.write(hello());
    client.write(
      Buffer.concat(Array.from({ length: MAX_IN_FLIGHT + extra }, (_, i) => request(i + 1, 'settings.get'))),
    );
    await answers(1);
    await until(() => started === MAX_IN_FLIGHT, 'handlers started');
    await turn();
    assert.equal(started, MAX_IN_FLIGHT);
    assert.equal(server.isPaused(), true);
    release();
    const done = await answers(MAX_IN_FLIGHT + extra);
    assert.equal(started, MAX_IN_FLIGHT + extra);
    assert.ok(done.every((answer) => answer.result !== undefined));
    assert.equal(server.isPaused(), false);
  },
);

test('a client that does not take its answers is not read until it does', { timeout: 10_000 }, async () => {
  const text = 'x'.repeat(700 * 1024);
  const { client, server, answers } = session({ diagnostics: async () => ({ text }) });
  client.write(hello());
  for (let id = 1; id <= 3; id++) client.write(request(id, 'diagnostics'));
  await until(() => server.isPaused(), 'reading paused');
  assert.ok(server.writableLength > 1024 * 1024);
  const all = await answers(4);
  assert.ok(all.slice(1).every((answer) => (answer.result as { text: string }).text === text));
  await until(() => server.writableLength === 0, 'answers taken');
  assert.equal(server.isPaused(), false);
});

test('malformed input ends the session with one last error', { timeout: 10_000 }, async () => {
  const { client, server, answers } = session({});
  const garbage = Buffer.from('not json');
  const frame = Buffer.alloc(4 + garbage.length);
  frame.writeUInt32BE(garbage.length, 0);
  garbage.copy(frame, 4);
  client.write(frame);
  const [last] = await answers(1);
  assert.equal(errorCode(last!), 'PARSE_ERROR');
  await until(() => server.destroyed, 'session closed');
});

test(
  'events.subscribe puts the session in the broadcaster until it closes',
  { timeout: 10_000 },
  async () => {
    const added: Duplex[] = [];
    const deleted: Duplex[] = [];
    const spy = { add: (s: Duplex) => added.push(s), delete: (s: Duplex) => deleted.push(s) };
    const { client, server, answers } = session({}, spy as unknown as Broadcaster);
    client.write(hello());
    client.write(request(1, 'events.subscribe'));
    assert.deepEqual((await answers(2))[1]!.result, {});
    assert.deepEqual(added, [server]);
    server.destroy();
    await until(() => deleted.length > 0, 'removed from the broadcaster');
    assert.deepEqual(deleted, [server]);
  },
);

test(
  'broadcast: subscribers get each event once, others nothing; events outside the protocol are not sent',
  { timeout: 10_000 },
  async () => {
    const log: string[] = [];
    const broadcaster = new Broadcaster((line) => log.push(line));
    const a = session({}, broadcaster);
    const b = session({}, broadcaster);
    for (const s of [a, b]) s.client.write(hello());
    a.client.write(request(1, 'events.subscribe'));
    await a.answers(2);
    await b.answers(1);
    broadcaster.broadcast({ type: 'tunnels-changed' });
    broadcaster.broadcast({ type: 'nonsense' } as never);
    broadcaster.broadcast({ type: 'settings', settings });
    const events = await a.answers(2);
    assert.deepEqual(
      events.map((event) => [event.method, event.params]),
      [
        ['event', { type: 'tunnels-changed' }],
        ['event', { type: 'settings', settings }],
      ],
    );
    assert.match(log.join('\n'), /not sending an event outside the protocol/);
    b.client.write(request(2, 'settings.get'));
    assert.equal((await b.answers(1))[0]!.id, 2, 'b saw no event before its own answer');
  },
);

test('broadcast: a subscriber that does not read is dropped, not buffered', () => {
  const log: string[] = [];
  const broadcaster = new Broadcaster((line) => log.push(line));
  const stuck = new Writable({ write() {} }); // never finishes a write
  const fine: Buffer[] = [];
  const reading = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      fine.push(chunk);
      callback();
    },
  });
  broadcaster.add(stuck);
  broadcaster.add(reading);
  stuck.write(Buffer.alloc(MAX_EVENT_BACKLOG_BYTES + 1));
  broadcaster.broadcast({ type: 'tunnels-changed' });
  assert.equal(stuck.destroyed, true);
  assert.equal(fine.length, 1);
  assert.match(log.join('\n'), /dropping 1 subscriber/);
  broadcaster.broadcast({ type: 'tunnels-changed' });
  assert.equal(fine.length, 2);
});

test(
  'a connection that sends no hello in time is closed with a last error',
  { timeout: 10_000 },
  async () => {
    const { client, answers, log } = session({}, undefined, 50);
    const closed = new Promise<void>((resolve) => client.once('end', () => resolve()));
    const [last] = await answers(1);
    assert.equal(errorCode(last!), HELLO_REQUIRED);
    assert.match(last!.error!.message, /no hello in time/);
    await closed;
    assert.ok(log.some((line) => line.includes('sent no hello')));
  },
);

test('a greeted connection is not closed by the hello timer', { timeout: 10_000 }, async () => {
  const { client, answers } = session({ 'settings.get': async () => settings }, undefined, 50);
  client.write(hello(1));
  await answers(1);
  await new Promise((resolve) => setTimeout(resolve, 120));
  client.write(request(2, 'settings.get'));
  const [answered] = await answers(1);
  assert.deepEqual(answered!.result, settings);
});
