// phantommesh-relay under abuse, each scenario in a network namespace of its own (unshare --net,
// test/lib/run-in-netns.ts): the real relay program, a real UDP "server" that echoes what it gets
// (and, asked, floods), and clients written here. Addresses: 198.18.0.0/24 on the namespace's
// loopback, so clients can come from several source addresses.
//   - garbage, a frame that is not WireGuard, a text message, an oversized message, a wrong path:
//     that connection is closed, the relay keeps serving the others;
//   - a client that does not read: datagrams to it are dropped (counted), not buffered;
//   - --max-clients and the per-address limit; the idle and handshake deadlines;
//   - the counters (Prometheus on loopback with the Host check, SIGUSR1) and a clean SIGTERM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { scenarioRequested, scenarioRunner, serveScenario } from '../lib/run-in-netns.ts';
import { testSkipReason } from '../lib/netns.ts';

const RELAY = new URL('../../helper/src/cli/phantommesh-relay.ts', import.meta.url).pathname;
const HOST = '198.18.0.1';
const UPSTREAM = 51820;
const TCP = 8080;
const WS = 8081;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A WireGuard-shaped transport message of `length` bytes (type 4, reserved zero), tagged. */
function wgMessage(length: number, tag: number): Buffer {
  const message = Buffer.alloc(length);
  message[0] = 4;
  message.writeUInt32LE(tag, 4);
  return message;
}

function frame(datagram: Uint8Array): Buffer {
  const out = Buffer.alloc(2 + datagram.length);
  out.writeUInt16BE(datagram.length, 0);
  out.set(datagram, 2);
  return out;
}

// ---------------------------------------------------------------------------------------------
// In the scenario's namespace

function prepareNamespace(): void {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  execFileSync('ip', ['address', 'add', `${HOST}/24`, 'dev', 'lo']);
}

/** The WireGuard server's stand-in: echoes every datagram; a 48-byte one asks for a flood instead. */
function startEcho(): Promise<void> {
  const socket = createSocket('udp4');
  socket.on('message', (datagram, from) => {
    if (datagram.length !== 48) return void socket.send(datagram, from.port, from.address);
    const big = wgMessage(1400, 0xf100d);
    for (let i = 0; i < 20_000; i++) socket.send(big, from.port, from.address);
  });
  return new Promise((resolve) => socket.bind(UPSTREAM, HOST, () => resolve()));
}

interface RelayProcess {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

async function startRelay(extra: string[]): Promise<RelayProcess> {
  const child = spawn(
    process.execPath,
    [
      RELAY,
      ...['--listen', `tcp://${HOST}:${TCP}`, '--listen', `ws://${HOST}:${WS}/wg`],
      ...['--to', `${HOST}:${UPSTREAM}`, ...extra],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const relay: RelayProcess = {
    child,
    output: () => text,
    exited,
    async waitFor(pattern, timeoutMs = 5000) {
      for (const start = Date.now(); !pattern.test(text); await sleep(20))
        if (Date.now() - start > timeoutMs)
          throw new Error(`the relay printed nothing matching ${pattern} in ${timeoutMs} ms:\n${text}`);
    },
  };
  await relay.waitFor(/listening on ws:/);
  return relay;
}

/** A tcp:// client speaking the 2-byte framing; `from` picks its source address. */
class TcpClient {
  readonly socket: Socket;
  readonly received: Buffer[] = [];
  readonly closed: Promise<void>;
  private pending = Buffer.alloc(0);

  constructor(from = HOST) {
    this.socket = connect({ host: HOST, port: TCP, localAddress: from });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {});
    this.socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 2 && this.pending.length >= 2 + this.pending.readUInt16BE(0)) {
        this.received.push(this.pending.subarray(2, 2 + this.pending.readUInt16BE(0)));
        this.pending = this.pending.subarray(2 + this.pending.readUInt16BE(0));
      }
    });
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  /** Sends a datagram and waits for its echo; false when the connection closed instead. */
  async echo(tag: number, timeoutMs = 3000): Promise<boolean> {
    const message = wgMessage(64, tag);
    this.socket.write(frame(message));
    for (const start = Date.now(); Date.now() - start < timeoutMs; await sleep(10)) {
      if (this.received.some((d) => d.equals(message))) return true;
      if (this.isClosed) return false;
    }
    throw new Error(`no echo and no close within ${timeoutMs} ms`);
  }
}

/** Resolves true when `promise` settles within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);
}

function openWs(path = '/wg'): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(`ws://${HOST}:${WS}${path}`, { perMessageDeflate: false });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, closed }));
    ws.on('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    ws.on('error', reject);
  });
}

/** GET with the given Host header; the status code and body. */
function get(
  address: string,
  port: number,
  path: string,
  host: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, headers: { host } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

const scenarios = {
  async abuse() {
    prepareNamespace();
    await startEcho();
    const relay = await startRelay(['--metrics', '127.0.0.1:9100']);
    const good = new TcpClient();
    const result: Record<string, unknown> = {};
    result.goodEchoes = await good.echo(1);
    const goodWs = await openWs();
    const wsEcho = new Promise<Buffer>((resolve) =>
      goodWs.ws.once('message', (data: Buffer) => resolve(data)),
    );
    goodWs.ws.send(wgMessage(64, 2));
    result.goodWsEchoes = (await wsEcho).equals(wgMessage(64, 2));

    // A frame that is not WireGuard (its length fits, its contents do not).
    const garbage = new TcpClient();
    garbage.socket.write(Buffer.concat([Buffer.from([0, 64]), Buffer.alloc(64, 'X')]));
    result.garbageClosed = await within(garbage.closed, 3000);
    // Random bytes, a whole frame's worth and more.
    const noise = new TcpClient();
    noise.socket.write(
      Buffer.concat([
        Buffer.from([0, 100]),
        Buffer.from(Array.from({ length: 400 }, (_, i) => (i * 37) & 0xff)),
      ]),
    );
    result.noiseClosed = await within(noise.closed, 3000);
    // A length below WireGuard's smallest message.
    const short = new TcpClient();
    short.socket.write(Buffer.from([0, 3, 4, 0, 0]));
    result.shortClosed = await within(short.closed, 3000);

    const text = await openWs();
    text.ws.send('hello');
    result.textClose = await text.closed;
    const oversized = await openWs();
    oversized.ws.send(Buffer.concat([wgMessage(64, 3), Buffer.alloc(70_000)]));
    result.oversizedClose = await oversized.closed;
    result.wrongPath = await openWs('/other').then(
      () => 'opened',
      (error: Error) => error.message,
    );
    result.plainGet = (
      await get(HOST, WS, '/wg', `${HOST}:${WS}`).catch((e: Error) => ({ status: e.message }))
    ).status;

    // A client that stops reading while the server floods it: drops, not a growing buffer.
    const sleeper = new TcpClient();
    await sleeper.echo(4);
    sleeper.socket.pause();
    sleeper.socket.write(frame(wgMessage(48, 5)));
    await sleep(1000);

    result.goodStillEchoes = await good.echo(6);
    const wsAgain = new Promise<Buffer>((resolve) =>
      goodWs.ws.once('message', (data: Buffer) => resolve(data)),
    );
    goodWs.ws.send(wgMessage(64, 7));
    result.goodWsStillEchoes = (await wsAgain).equals(wgMessage(64, 7));

    const scrape = await get('127.0.0.1', 9100, '/metrics', '127.0.0.1:9100');
    result.metricsStatus = scrape.status;
    result.misdirected = (await get('127.0.0.1', 9100, '/metrics', 'relay.example:9100')).status;
    result.metrics = Object.fromEntries(
      [
        'phantommesh_relay_connections',
        'phantommesh_relay_sessions_total',
        'phantommesh_relay_datagrams_total{direction="up"}',
        'phantommesh_relay_datagrams_total{direction="down"}',
        'phantommesh_relay_rejected_connections_total{reason="not-found"}',
        'phantommesh_relay_closed_sessions_total{reason="protocol"}',
        'phantommesh_relay_dropped_datagrams_total{reason="client-buffer-full"}',
      ].map((name) => [name, metricValue(scrape.body, name)]),
    );
    relay.child.kill('SIGUSR1');
    await relay.waitFor(/metrics: connections/);
    relay.child.kill('SIGTERM');
    result.exitCode = await relay.exited;
    result.goodClosedOnShutdown = await within(good.closed, 3000);
    result.wsCloseOnShutdown = await goodWs.closed;
    result.log = relay.output();
    return result;
  },

  async limits() {
    prepareNamespace();
    await startEcho();
    const relay = await startRelay(['--max-clients', '3', '--max-clients-per-ip', '2']);
    const a1 = new TcpClient('198.18.0.2');
    const a2 = new TcpClient('198.18.0.2');
    const results: Record<string, unknown> = {};
    results.a1 = await a1.echo(1);
    results.a2 = await a2.echo(2);
    results.a3 = await new TcpClient('198.18.0.2').echo(3);
    const b1 = new TcpClient('198.18.0.3');
    results.b1 = await b1.echo(4);
    results.c1 = await new TcpClient('198.18.0.4').echo(5);
    results.wsWhenFull = await openWs().then(
      () => 'opened',
      (error: Error) => error.message,
    );
    a1.socket.destroy();
    await relay.waitFor(/disconnect #1 /);
    await sleep(100);
    results.c2 = await new TcpClient('198.18.0.4').echo(6);
    results.log = relay.output();
    relay.child.kill('SIGTERM');
    await relay.exited;
    return results;
  },

  async crowd() {
    prepareNamespace();
    await startEcho();
    // The default --max-clients (256); the per-address limit out of the way, all from one address.
    const relay = await startRelay(['--max-clients-per-ip', '2000']);
    const clients = Array.from({ length: 1000 }, () => new TcpClient());
    const outcomes = await Promise.all(clients.map((client, i) => client.echo(i, 10_000)));
    const pid = relay.child.pid!;
    const rssKb = Number(
      /^VmRSS:\s*(\d+)/m.exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }))?.[1],
    );
    for (const client of clients) client.socket.destroy();
    await relay.waitFor(/disconnect #256 /, 10_000);
    await sleep(200);
    const after = await new TcpClient().echo(5000);
    relay.child.kill('SIGTERM');
    return {
      admitted: outcomes.filter(Boolean).length,
      refused: outcomes.filter((ok) => !ok).length,
      rssKb,
      after,
      exit: await relay.exited,
    };
  },

  async timeouts() {
    prepareNamespace();
    await startEcho();
    const relay = await startRelay(['--idle-timeout', '1', '--handshake-timeout', '1']);
    const results: Record<string, unknown> = {};
    const started = Date.now();
    const idle = new TcpClient();
    const busy = new TcpClient();
    results.idleEchoes = await idle.echo(1);
    const silent = connect({ host: HOST, port: WS });
    silent.on('error', () => {});
    const silentClosed = new Promise<number>((resolve) =>
      silent.on('close', () => resolve(Date.now() - started)),
    );
    const halfRequest = connect({ host: HOST, port: WS });
    halfRequest.on('error', () => {});
    halfRequest.write('GET /wg HTTP/1.1\r\nHost: relay\r\n');
    const halfClosed = new Promise<number>((resolve) =>
      halfRequest.on('close', () => resolve(Date.now() - started)),
    );
    for (let i = 0; i < 8; i++) {
      results.busyEchoes = await busy.echo(10 + i);
      await sleep(300);
    }
    results.idleClosed = idle.isClosed;
    results.busyOpen = !busy.isClosed;
    results.silentClosedAfterMs = await silentClosed;
    results.halfClosedAfterMs = await halfClosed;
    results.log = relay.output();
    relay.child.kill('SIGTERM');
    await relay.exited;
    return results;
  },
};

const requested = scenarioRequested();
if (requested) {
  await serveScenario(scenarios, requested);
} else {
  const skip = testSkipReason();
  const run = scenarioRunner(import.meta.url, scenarios);

  test('garbage, bad frames and slow readers close or drop only their own connection', { skip }, async () => {
    const r = await run('abuse', { timeoutMs: 30_000 });
    const log = String(r.log);
    assert.equal(r.goodEchoes, true);
    assert.equal(r.goodWsEchoes, true);
    assert.equal(r.garbageClosed, true, `a frame of garbage closes the connection:\n${log}`);
    assert.equal(r.noiseClosed, true, 'random bytes close the connection');
    assert.equal(r.shortClosed, true, 'a frame shorter than any WireGuard message closes it');
    assert.equal(r.textClose, 1003, 'a text message: close 1003');
    assert.equal(r.oversizedClose, 1009, 'a message over 65535 bytes: close 1009');
    assert.equal(r.wrongPath, 'HTTP 404', 'another path: 404, no upgrade');
    assert.equal(r.plainGet, 426, 'a plain GET of the path: 426');
    assert.equal(r.goodStillEchoes, true, `the relay still serves the others:\n${log}`);
    assert.equal(r.goodWsStillEchoes, true);
    assert.equal(r.metricsStatus, 200);
    assert.equal(r.misdirected, 421, 'another Host: 421');
    const m = r.metrics as Record<string, number>;
    assert.ok(m['phantommesh_relay_sessions_total']! >= 8, JSON.stringify(m));
    assert.ok(m['phantommesh_relay_datagrams_total{direction="up"}']! >= 5, JSON.stringify(m));
    assert.ok(m['phantommesh_relay_datagrams_total{direction="down"}']! >= 5, JSON.stringify(m));
    assert.equal(m['phantommesh_relay_rejected_connections_total{reason="not-found"}'], 1, JSON.stringify(m));
    assert.ok(m['phantommesh_relay_closed_sessions_total{reason="protocol"}']! >= 5, JSON.stringify(m));
    assert.ok(
      m['phantommesh_relay_dropped_datagrams_total{reason="client-buffer-full"}']! > 0,
      JSON.stringify(m),
    );
    assert.match(log, /disconnect #\d+ tcp \S+ after [\d.]+ s: protocol: not a WireGuard message/);
    assert.match(log, /disconnect #\d+ ws \S+ after [\d.]+ s: protocol: text message/);
    assert.match(log, /disconnect #\d+ ws \S+ after [\d.]+ s: protocol: WS_ERR_UNSUPPORTED_MESSAGE_LENGTH/);
    assert.match(log, /metrics: connections \d+ now/);
    assert.equal(r.exitCode, 0, `SIGTERM: exit 0:\n${log}`);
    assert.equal(r.goodClosedOnShutdown, true, 'SIGTERM closes the clients');
    assert.equal(r.wsCloseOnShutdown, 1001, 'WebSocket clients get 1001 (going away)');
    assert.match(log, /disconnect #\d+ .*: shutdown/);
    assert.match(log, /stopped$/m);
    assert.doesNotMatch(log, /XXXX|Error:|at .*\.ts:\d+/, 'no payloads, no stack traces in the log');
  });

  test('--max-clients and the per-address limit', { skip }, async () => {
    const r = await run('limits', { timeoutMs: 30_000 });
    const log = String(r.log);
    assert.equal(r.a1, true);
    assert.equal(r.a2, true);
    assert.equal(r.a3, false, `a third connection from one address is refused:\n${log}`);
    assert.equal(r.b1, true);
    assert.equal(r.c1, false, 'a fourth connection in all is refused');
    assert.match(String(r.wsWhenFull), /socket hang up|ECONNRESET|closed/, 'WebSocket too');
    assert.equal(r.c2, true, 'a freed slot is taken again');
    assert.match(log, /refused 198\.18\.0\.2:\d+: per-ip limit reached/);
    assert.match(log, /refused 198\.18\.0\.4:\d+: max-clients limit reached/);
  });

  test('1,000 connections at once: 256 served, the rest refused, memory bounded', { skip }, async () => {
    const r = await run('crowd', { timeoutMs: 30_000 });
    assert.equal(r.admitted, 256, JSON.stringify(r));
    assert.equal(r.refused, 744);
    assert.ok(r.rssKb < 200 * 1024, `the relay's RSS with 256 clients: ${r.rssKb} kB`);
    assert.equal(r.after, true, 'served again once they are gone');
    assert.equal(r.exit, 0);
  });

  test('idle connections and unfinished handshakes are closed on time', { skip }, async () => {
    const r = await run('timeouts', { timeoutMs: 30_000 });
    const log = String(r.log);
    assert.equal(r.idleEchoes, true);
    assert.equal(r.idleClosed, true, `idle for over a second: closed:\n${log}`);
    assert.equal(r.busyOpen, true, 'a connection carrying datagrams stays');
    assert.equal(r.busyEchoes, true);
    assert.ok(
      (r.silentClosedAfterMs as number) < 2500,
      `a silent connection is cut after ~1 s: ${r.silentClosedAfterMs}`,
    );
    assert.ok((r.halfClosedAfterMs as number) < 2500, `an unfinished request too: ${r.halfClosedAfterMs}`);
    assert.match(log, /disconnect #1 tcp \S+ after 1\.\d s: idle/);
    assert.match(log, /refused \S+: no upgrade in time/);
  });
}
