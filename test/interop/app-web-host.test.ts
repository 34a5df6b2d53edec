// The browser host (scripts/web.ts) against the real helper service: its access rules (token, Host,
// Origin), the app's requests over its WebSocket, helper events pushed through it, the helper going
// away and coming back, and its shim in Debian's Chromium implementing PhantomMeshApi.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { WebSocket } from 'ws';
import type { AppEvent, InvokeName, InvokeReply } from '../../shared/src/ipc/schema.ts';
import {
  createTopology,
  genKeyPair,
  testSkipReason,
  spawnIn,
  type Spawned,
  type Topology,
} from '../lib/netns.ts';
import { startService, type Service } from '../../scripts/lab/service.ts';
import { ourConfigText } from '../../scripts/lab/tunnel-pair.ts';

const WEB_HOST = new URL('../../scripts/web.ts', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';
const skip = testSkipReason();

let topology: Topology;
let service: Service;
let host: Spawned;
let dir: string;
let url: URL;
let configText: string;
let peerPublicKey: string;

/** A client of the host's WebSocket: numbered requests, and every event kept until asked for. */
class IpcClient {
  private readonly socket: WebSocket;
  private nextId = 1;
  private readonly replies = new Map<number, (reply: InvokeReply<InvokeName>) => void>();
  private readonly events: AppEvent[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as
        { id: number; reply: InvokeReply<InvokeName> } | { event: AppEvent };
      if ('event' in message) {
        this.events.push(message.event);
        for (const wake of this.waiters) wake();
      } else this.replies.get(message.id)?.(message.reply);
    });
  }

  static open(address: string): Promise<IpcClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(address);
      socket.once('open', () => resolve(new IpcClient(socket)));
      socket.once('error', reject);
    });
  }

  invoke(method: string, params: unknown): Promise<InvokeReply<InvokeName>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.replies.set(id, resolve);
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** The first event (already received or still to come) that `accept` accepts; it is consumed. */
  event(accept: (event: AppEvent) => boolean, timeoutMs: number): Promise<AppEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.events.findIndex(accept);
        if (index < 0) return;
        const [found] = this.events.splice(index, 1);
        finish();
        resolve(found!);
      };
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** The status code of a WebSocket handshake the host refuses. */
function refusedUpgrade(address: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(address, { headers });
    socket.once('open', () => reject(new Error(`${address} was accepted`)));
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('error', () => {});
  });
}

function get(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: Number(url.port), path, headers }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      });
      req.on('error', reject);
      req.end();
    },
  );
}

const wsAddress = (token: string | null) =>
  `ws://127.0.0.1:${url.port}/ipc${token === null ? '' : `?token=${encodeURIComponent(token)}`}`;
const token = () => url.searchParams.get('token')!;

function ok<T>(reply: InvokeReply<InvokeName>): T {
  assert.ok(reply.ok, `expected success, got ${JSON.stringify(reply)}`);
  return reply.result as T;
}

before(async () => {
  if (skip) return;
  topology = await createTopology();
  service = await startService(topology.a.ns);
  dir = await mkdtemp(join(tmpdir(), 'pm-web-host-'));
  // A stand-in for the built renderer: the host's job is to serve it with the shim, not to build it.
  // (As the real one, it names no favicon, so the browser asks for none.)
  await writeFile(
    join(dir, 'index.html'),
    '<!doctype html><html><head><link rel="icon" href="data:," /><title>PhantomMesh</title></head><body></body></html>',
  );
  const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
  peerPublicKey = theirs.publicKey;
  configText = ourConfigText({
    privateKey: ours.privateKey,
    peerPublicKey,
    endpoint: `${topology.b.ipv4}:51820`,
    psk: ours.publicKey,
  });
  host = spawnIn(null, process.execPath, [
    WEB_HOST,
    ...['--socket', service.socketPath, '--port', '0', '--renderer', dir],
    ...['--downloads', dir, '--config-dir', join(dir, 'config')],
  ]);
  const line = await host.waitForLine(
    /^PhantomMesh browser host: http:\/\/127\.0\.0\.1:\d+\/\?token=\S+$/,
    15_000,
  );
  url = new URL(/http:\/\/\S+/.exec(line)![0]);
});

after(async () => {
  if (skip) return;
  await host?.stop();
  await service?.destroy();
  await topology?.destroy();
  await rm(dir, { recursive: true, force: true });
});

test(
  'the WebSocket needs the token: 403 without it, with a wrong one, or from elsewhere',
  { skip },
  async () => {
    assert.equal(await refusedUpgrade(wsAddress(null)), 403);
    assert.equal(await refusedUpgrade(wsAddress('')), 403);
    assert.equal(await refusedUpgrade(wsAddress(`${token()}x`)), 403);
    assert.equal(await refusedUpgrade(wsAddress(token().slice(1))), 403);
    // The right token from a page of another origin, or through a rebound DNS name.
    assert.equal(await refusedUpgrade(wsAddress(token()), { Origin: 'http://evil.example' }), 403);
    assert.equal(await refusedUpgrade(wsAddress(token()), { Host: `evil.example:${url.port}` }), 403);
    const client = await IpcClient.open(wsAddress(token()));
    client.close();
  },
);

test(
  'the token check tells a page without its token (or with a wrong one) from a host that is gone',
  { skip },
  async () => {
    const check = (query: string, headers: Record<string, string> = {}) =>
      get(`/token-check${query}`, headers).then((answer) => answer.status);
    assert.equal(await check(`?token=${encodeURIComponent(token())}`), 204);
    assert.equal(await check(''), 403);
    assert.equal(await check('?token='), 403);
    assert.equal(await check(`?token=${encodeURIComponent(token())}x`), 403);
    // Not through a rebound DNS name either.
    assert.equal(
      await check(`?token=${encodeURIComponent(token())}`, { Host: `evil.example:${url.port}` }),
      403,
    );
  },
);

test(
  'HTTP: the renderer with the shim first and a strict CSP; nothing for other Host names',
  { skip },
  async () => {
    const page = await get('/?token=whatever');
    assert.equal(page.status, 200);
    assert.match(
      page.body,
      /^<!doctype html><html><head><script src="\/phantommesh-shim\.js"><\/script><link /,
    );
    assert.equal(
      page.headers['content-security-policy'],
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        `connect-src 'self' ws://127.0.0.1:${url.port}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    );
    const shim = await get('/phantommesh-shim.js');
    assert.equal(shim.status, 200);
    assert.equal(shim.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.ok(!shim.body.includes(token()), 'the shim does not carry the token');
    assert.equal((await get('/', { Host: `evil.example:${url.port}` })).status, 403);
    assert.equal((await get('/../../etc/passwd.txt')).status, 404);
  },
);

test('app requests and helper requests over the WebSocket, with helper events pushed', { skip }, async () => {
  const client = await IpcClient.open(wsAddress(token()));
  try {
    const state = ok<{ helper: { state: string }; version: string }>(await client.invoke('app.state', {}));
    assert.equal(state.helper.state, 'connected');
    assert.match(state.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(ok(await client.invoke('tunnels.list', {})), []);

    const summary = ok<{ name: string; state: string }>(
      await client.invoke('tunnels.import', { name: 'office', text: configText }),
    );
    assert.equal(summary.name, 'office');
    assert.equal(summary.state, 'disconnected');
    await client.event((event) => event.type === 'helper' && event.event.type === 'tunnels-changed', 5000);
    assert.deepEqual(
      ok<Array<{ name: string }>>(await client.invoke('tunnels.list', {})).map((tunnel) => tunnel.name),
      ['office'],
    );

    const { text } = ok<{ text: string }>(await client.invoke('tunnels.text', { name: 'office' }));
    assert.doesNotMatch(text, /PrivateKey/);
    assert.doesNotMatch(text, /PresharedKey/);
    assert.match(text, new RegExp(`^PublicKey = ${peerPublicKey.replace(/[+/]/g, '\\$&')}$`, 'm'));

    const exported = ok<{ path: string }>(await client.invoke('app.exportTunnel', { name: 'office' }));
    assert.equal(exported.path, join(dir, 'office.conf'));
    assert.equal(await readFile(exported.path, 'utf8'), text);
    const diagnostics = ok<{ path: string }>(await client.invoke('app.saveDiagnostics', {}));
    assert.equal(diagnostics.path, join(dir, 'phantommesh-diagnostics.txt'));
    assert.doesNotMatch(await readFile(diagnostics.path, 'utf8'), /PrivateKey/);
  } finally {
    client.close();
  }
});

test(
  'failures are replies: a config error with its line and key, bad params, an unknown method',
  { skip },
  async () => {
    const client = await IpcClient.open(wsAddress(token()));
    try {
      const broken = configText.replace('192.0.2.0/24', '192.0.2.0/33');
      const line = broken.split('\n').findIndex((text) => text.startsWith('AllowedIPs')) + 1;
      const reply = await client.invoke('tunnels.import', { name: 'broken', text: broken });
      assert.ok(!reply.ok);
      assert.equal(reply.error.code, 'CONFIG_INVALID');
      assert.equal(reply.error.line, line);
      assert.equal(reply.error.key, 'AllowedIPs');
      assert.match(reply.error.message, new RegExp(`^line ${line}: AllowedIPs: `));

      const bad = await client.invoke('tunnels.get', { name: '../x' });
      assert.equal(!bad.ok && bad.error.code, 'INVALID_PARAMS');
      const unknown = await client.invoke('tunnels.export', { name: 'office', includePrivateKey: true });
      assert.equal(!unknown.ok && unknown.error.code, 'METHOD_NOT_FOUND');
      const open = await client.invoke('app.openConfigFile', {});
      assert.equal(
        !open.ok && open.error.message,
        'Opening files is not available in the browser host: drop the file on the window or paste its text.',
      );
    } finally {
      client.close();
    }
  },
);

test(
  'the shim in Chromium is exactly PhantomMeshApi',
  { skip: skip || (!existsSync(CHROMIUM) && 'Debian chromium is not installed') },
  async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    const client = await IpcClient.open(wsAddress(token()));
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
      await page.goto(url.href);
      const shape = await page.evaluate(() => {
        const api = (globalThis as unknown as { phantommesh: Record<string, unknown> }).phantommesh;
        return {
          keys: Object.keys(api).sort(),
          types: [typeof api.invoke, typeof api.onEvent],
          frozen: Object.isFrozen(api),
          replaced: (() => {
            try {
              (globalThis as unknown as { phantommesh: unknown }).phantommesh = {};
            } catch {
              // Strict-mode code would throw; the page's scripts are modules.
            }
            return (globalThis as unknown as { phantommesh: unknown }).phantommesh !== api;
          })(),
          address: (globalThis as unknown as { location: { href: string } }).location.href,
        };
      });
      assert.deepEqual(shape.keys, ['invoke', 'onEvent']);
      assert.deepEqual(shape.types, ['function', 'function']);
      assert.equal(shape.frozen, true);
      assert.equal(shape.replaced, false);
      assert.equal(shape.address, `http://127.0.0.1:${url.port}/`, 'the token left the address bar');

      const tunnels = await page.evaluate(() =>
        (
          globalThis as unknown as {
            phantommesh: { invoke(m: string, p: unknown): Promise<Array<{ name: string }>> };
          }
        ).phantommesh.invoke('tunnels.list', {}),
      );
      assert.deepEqual(
        tunnels.map((tunnel) => tunnel.name),
        ['office'],
      );

      const failure = await page.evaluate(async () => {
        try {
          await (
            globalThis as unknown as { phantommesh: { invoke(m: string, p: unknown): Promise<unknown> } }
          ).phantommesh.invoke('tunnels.import', {
            name: 'broken',
            text: '[Interface]\nPrivateKey = nope\n',
          });
          return null;
        } catch (error) {
          const { message, code, line, key } = error as {
            message: string;
            code: string;
            line: number;
            key: string;
          };
          return { isError: error instanceof Error, message, code, line, key };
        }
      });
      assert.ok(failure);
      assert.equal(failure.isError, true);
      assert.equal(failure.code, 'CONFIG_INVALID');
      assert.equal(failure.line, 2);
      assert.equal(failure.key, 'PrivateKey');

      // Events reach onEvent; after unsubscribing, no more. The listener is registered (and the
      // evaluate returns) before the change is made, so nothing has to wait for it.
      await page.evaluate(() => {
        const scope = globalThis as unknown as {
          phantommesh: {
            onEvent(l: (e: { type: string; event?: { type: string } }) => void): () => void;
          };
          heard?: Promise<unknown>;
        };
        scope.heard = new Promise<unknown>((resolve) => {
          const stop = scope.phantommesh.onEvent((event) => {
            if (event.type === 'helper' && event.event?.type === 'tunnels-changed') {
              stop();
              resolve(event);
            }
          });
        });
      });
      ok(await client.invoke('tunnels.create', { name: 'home' }));
      const heard = page.evaluate(() => (globalThis as unknown as { heard: Promise<unknown> }).heard);
      assert.deepEqual(await heard, { type: 'helper', event: { type: 'tunnels-changed' } });

      // A reload keeps working: the token waits in sessionStorage.
      await page.reload();
      const again = await page.evaluate(() =>
        (
          globalThis as unknown as {
            phantommesh: { invoke(m: string, p: unknown): Promise<Array<{ name: string }>> };
          }
        ).phantommesh.invoke('tunnels.list', {}),
      );
      assert.deepEqual(again.map((tunnel) => tunnel.name).sort(), ['home', 'office']);
      assert.deepEqual(problems, []);
    } finally {
      client.close();
      await browser.close();
    }
  },
);

test('the helper stopping is "unavailable", and its return "connected"', { skip }, async () => {
  const client = await IpcClient.open(wsAddress(token()));
  try {
    await service.kill('SIGTERM');
    const unavailable = await client.event(
      (event) => event.type === 'helper-connection' && event.connection.state === 'unavailable',
      15_000,
    );
    assert.deepEqual(unavailable, {
      type: 'helper-connection',
      connection: {
        state: 'unavailable',
        message: `Start it with: sudo npx phantommesh-helper serve --socket ${service.socketPath}`,
        canFix: false,
      },
    });
    const refused = await client.invoke('tunnels.list', {});
    assert.equal(!refused.ok && refused.error.code, 'HELPER_UNAVAILABLE');

    await service.restart();
    await client.event(
      (event) => event.type === 'helper-connection' && event.connection.state === 'connected',
      15_000,
    );
    const tunnels = ok<Array<{ name: string }>>(await client.invoke('tunnels.list', {}));
    assert.deepEqual(tunnels.map((tunnel) => tunnel.name).sort(), ['home', 'office']);
  } finally {
    client.close();
  }
});
