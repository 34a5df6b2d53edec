// The transport over IPC: transport.pickFile and transport.set are checked against the IPC schema; a
// picked certificate or key is read by the main process (bounded, PEM only) and kept under a token
// the renderer gets instead of the contents; transport.set swaps each token for its file once, for
// its own kind of file, and the helper receives PEM text, never a path. The helper is a fake link
// here (what it is called with is the point); playwright/transport.test.ts runs the real one.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { TransportFileKind } from '../../shared/src/ipc/schema.ts';
import { AppSettingsStore } from '../../app/main/app-settings.ts';
import { AppController } from '../../app/main/app-controller.ts';
import type { HelperLink } from '../../app/main/helper-link.ts';
import { MAX_PEM_BYTES, readPemFile, TransportFiles } from '../../app/main/transport-files.ts';
import { browserHostPlatform } from '../../app/web/browser-host-platform.ts';

const dir = mkdtempSync(join(tmpdir(), 'phantommesh-transport-ipc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n';
const CA = '-----BEGIN CERTIFICATE-----\nCAAA\n-----END CERTIFICATE-----\n';
const files = {
  cert: join(dir, 'client.pem'),
  key: join(dir, 'client.key'),
  ca: join(dir, 'ca.pem'),
  notPem: join(dir, 'notes.txt'),
  big: join(dir, 'big.pem'),
};
writeFileSync(files.cert, CERT);
writeFileSync(files.key, KEY, { mode: 0o600 });
writeFileSync(files.ca, CA);
writeFileSync(files.notPem, 'hello\n');
writeFileSync(files.big, `-----BEGIN CERTIFICATE-----\n${'A'.repeat(MAX_PEM_BYTES)}\n`);

/** A controller whose link records calls and whose "dialog" answers the next path in `picks`. */
async function setup(options: { lifetimeMs?: number } = {}) {
  const calls: Array<[string, unknown]> = [];
  const picks: Array<string | null> = [];
  const link = {
    status: { state: 'connected', canFix: false },
    call: async (method: string, params: unknown) => {
      calls.push([method, params]);
      const transport = (params as { transport?: { kind: string; url?: string } }).transport;
      return transport?.kind === 'relay'
        ? { kind: 'relay', url: transport.url, fallback: false, clientCertificate: 'CN=client' }
        : { kind: 'udp' };
    },
    onStatus: () => () => {},
    onEvent: () => () => {},
  } as unknown as HelperLink;
  const controller = new AppController({
    link,
    settings: await AppSettingsStore.open(join(dir, 'settings.json'), () => {}),
    platform: browserHostPlatform({
      downloadsDir: dir,
      socketPath: join(dir, 'x.sock'),
      log: () => {},
      chooseTransportFile: async () => picks.shift() ?? null,
    }),
    version: '0.1.0',
    emit: () => {},
    log: () => {},
    transportFiles: new TransportFiles(options.lifetimeMs),
  });
  const pick = async (kind: TransportFileKind, path: string | null) => {
    picks.push(path);
    return controller.invoke('transport.pickFile', { kind });
  };
  return { controller, calls, pick };
}

const code = (reply: { ok: boolean; error?: { code: string } }) => (reply.ok ? undefined : reply.error?.code);
const TOKEN = 'A'.repeat(43);

test('transport.set and transport.pickFile params must fit the IPC schema exactly', async () => {
  const { controller, calls } = await setup();
  const bad: Array<[string, unknown]> = [
    ['transport.pickFile', {}],
    ['transport.pickFile', { kind: 'serverKey' }],
    ['transport.pickFile', { kind: 'clientKey', path: '/etc/shadow' }],
    ['transport.set', { name: 'office' }],
    ['transport.set', { name: 'office', kind: 'quic' }],
    ['transport.set', { name: '../x', kind: 'udp' }],
    ['transport.set', { name: 'office', kind: 'udp', url: 'tcp://relay:443' }],
    ['transport.set', { name: 'office', kind: 'relay' }],
    ['transport.set', { name: 'office', kind: 'relay', url: 'https://relay.example.com/' }],
    ['transport.set', { name: 'office', kind: 'relay', url: 'tcp://relay.example.com:443 x' }],
    ['transport.set', { name: 'office', kind: 'relay', url: 'tcp://r:1', proxy: 'socks5://p:1080' }],
    ['transport.set', { name: 'office', kind: 'relay', url: 'tcp://r:1', fallback: 'yes' }],
    // Contents or paths in place of tokens: the renderer has neither.
    ['transport.set', { name: 'office', kind: 'relay', url: 'wss://r/', clientKey: KEY }],
    ['transport.set', { name: 'office', kind: 'relay', url: 'wss://r/', caToken: '/etc/ssl/ca.pem' }],
    ['transport.set', { name: 'office', kind: 'relay', url: 'wss://r/', caToken: KEY }],
    // A certificate without its key, and the other way round.
    ['transport.set', { name: 'office', kind: 'relay', url: 'wss://r/', clientCertToken: TOKEN }],
    ['transport.set', { name: 'office', kind: 'relay', url: 'wss://r/', clientKeyToken: TOKEN }],
    ['tunnels.transport.get', { name: 'office', withKey: true }],
    // The helper's own method, with contents, is not an IPC method.
    ['tunnels.transport.set', { name: 'office', transport: { kind: 'udp' } }],
  ];
  for (const [method, params] of bad) {
    const reply = await controller.invoke(method, params);
    assert.ok(
      code(reply) === 'INVALID_PARAMS' || code(reply) === 'METHOD_NOT_FOUND',
      `${method} ${JSON.stringify(params)}: ${JSON.stringify(reply)}`,
    );
  }
  assert.equal(code(await controller.invoke('tunnels.transport.set', {})), 'METHOD_NOT_FOUND');
  assert.deepEqual(calls, [], 'nothing reached the helper');
});

test('a picked key comes back as a token and a file name; the helper gets the PEM text, once', async () => {
  const { controller, calls, pick } = await setup();
  const cert = await pick('clientCert', files.cert);
  const key = await pick('clientKey', files.key);
  const ca = await pick('ca', files.ca);
  assert.ok(cert.ok && key.ok && ca.ok);
  assert.equal(cert.result?.fileName, 'client.pem');
  assert.equal(key.result?.fileName, 'client.key');
  assert.match(key.result!.token, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!JSON.stringify([cert, key, ca]).includes('SECRET-KEY-MATERIAL'), 'no contents in a reply');

  const request = {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/wg',
    fallback: true,
    proxy: 'http://user:pw@proxy.example.com:3128',
    clientCertToken: cert.result!.token,
    clientKeyToken: key.result!.token,
    caToken: ca.result!.token,
  } as const;
  const set = await controller.invoke('transport.set', request);
  assert.ok(set.ok, JSON.stringify(set));
  assert.ok(!JSON.stringify(set).includes('SECRET'), 'the answer holds no key');
  assert.deepEqual(calls, [
    [
      'tunnels.transport.set',
      {
        name: 'office',
        transport: {
          kind: 'relay',
          url: 'wss://relay.example.com/wg',
          fallback: true,
          proxy: 'http://user:pw@proxy.example.com:3128',
          clientCert: CERT,
          clientKey: KEY,
          ca: CA,
        },
      },
    ],
  ]);
  // Used once: the same tokens again are refused before the helper is asked.
  const again = await controller.invoke('transport.set', request);
  assert.equal(code(again), 'FILE_TOKEN_UNKNOWN');
  assert.match(again.ok ? '' : again.error.message, /choose it again/);
  assert.equal(calls.length, 1);
});

test('a token is for its own kind of file, unknown ones are refused, and none is spent then', async () => {
  const { controller, calls, pick } = await setup();
  const cert = await pick('clientCert', files.cert);
  const key = await pick('clientKey', files.key);
  assert.ok(cert.ok && key.ok);
  // The key's token offered as the CA: refused, and the certificate and key stay held.
  const swapped = await controller.invoke('transport.set', {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/wg',
    caToken: key.result!.token,
  });
  assert.equal(code(swapped), 'FILE_TOKEN_UNKNOWN');
  assert.match(swapped.ok ? '' : swapped.error.message, /CA certificate/);
  const unknown = await controller.invoke('transport.set', {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/wg',
    clientCertToken: cert.result!.token,
    clientKeyToken: TOKEN,
  });
  assert.equal(code(unknown), 'FILE_TOKEN_UNKNOWN');
  assert.equal(calls.length, 0);
  const right = await controller.invoke('transport.set', {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/wg',
    clientCertToken: cert.result!.token,
    clientKeyToken: key.result!.token,
  });
  assert.ok(right.ok, JSON.stringify(right));
  assert.equal((calls[0]![1] as { transport: { clientKey: string } }).transport.clientKey, KEY);
});

test('udp is sent as udp; a cancelled dialog is null; the stopped controller forgets every file', async () => {
  const { controller, calls, pick } = await setup();
  assert.deepEqual(await controller.invoke('transport.set', { name: 'office', kind: 'udp' }), {
    ok: true,
    result: { kind: 'udp' },
  });
  assert.deepEqual(calls, [['tunnels.transport.set', { name: 'office', transport: { kind: 'udp' } }]]);
  assert.deepEqual(await pick('ca', null), { ok: true, result: null });
  const ca = await pick('ca', files.ca);
  assert.ok(ca.ok);
  controller.stop();
  const after = await controller.invoke('transport.set', {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/',
    caToken: ca.result!.token,
  });
  assert.equal(code(after), 'FILE_TOKEN_UNKNOWN');
});

test('tokens expire', async () => {
  const { controller, pick } = await setup({ lifetimeMs: 20 });
  const ca = await pick('ca', files.ca);
  assert.ok(ca.ok);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const late = await controller.invoke('transport.set', {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/',
    caToken: ca.result!.token,
  });
  assert.equal(code(late), 'FILE_TOKEN_UNKNOWN');
});

test('a picked file is a regular PEM file of at most 64 KiB, else a reply that says why', async () => {
  const { pick } = await setup();
  const refused = async (path: string, kind: TransportFileKind, expected: string, why: RegExp) => {
    const reply = await pick(kind, path);
    assert.equal(code(reply), expected, path);
    assert.match(reply.ok ? '' : reply.error.message, why);
  };
  await refused(files.notPem, 'clientCert', 'FILE_NOT_PEM', /notes\.txt is not a PEM file/);
  await refused(files.big, 'ca', 'FILE_TOO_LARGE', /at most 65536/);
  await refused(join(dir, 'missing.pem'), 'clientKey', 'FILE_UNREADABLE', /no such file/);
  await refused(dir, 'clientKey', 'FILE_UNREADABLE', /not a regular file/);
  // A device that never ends is not read without end.
  await refused('/dev/zero', 'clientKey', 'FILE_UNREADABLE', /not a regular file/);
  // A link the user picked is followed, as any open dialog would.
  const link = join(dir, 'link.pem');
  symlinkSync(files.ca, link);
  assert.equal((await readPemFile(link, 'ca')).toString(), CA);
});

test('the store holds a bounded number of files, oldest forgotten first', () => {
  const store = new TransportFiles();
  const tokens = Array.from({ length: 20 }, () => store.hold('ca', Buffer.from(CA)));
  assert.equal(store.size, 16);
  assert.throws(() => store.takeAll({ ca: { token: tokens[0]!, kind: 'ca' } }), /no longer held/);
  assert.deepEqual(store.takeAll({ ca: { token: tokens[19]!, kind: 'ca' } }), { ca: CA });
  assert.equal(store.size, 15);
  store.clear();
  assert.equal(store.size, 0);
});

test('the browser host has no file dialog unless a test gives it a stand-in', async () => {
  const platform = browserHostPlatform({ downloadsDir: dir, socketPath: join(dir, 'x.sock'), log: () => {} });
  await assert.rejects(platform.chooseTransportFile('clientKey'), /not available in the browser host/);
});
