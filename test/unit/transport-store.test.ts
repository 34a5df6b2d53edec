// The per-tunnel transport store: what a client may set (checked), what it may see back (no key, no
// proxy password), and the file beside the tunnel (root's, 0600, moved and deleted with it).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { TransportSetting } from '../../shared/src/control/protocol.ts';
import {
  checkTransport,
  publicTransport,
  TransportStore,
  withKept,
} from '../../helper/src/service/transport-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'pm-transport-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate and its key, and a second key that is not its. */
function pems(): { cert: string; key: string; otherKey: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'c.key',
    '-out',
    'c.pem',
    '-days',
    '1',
    '-subj',
    '/CN=laptop.example',
  ]);
  run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'o.key']);
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  return { cert: read('c.pem'), key: read('c.key'), otherKey: read('o.key') };
}
const { cert, key, otherKey } = pems();

test('the schema refuses what is not a relay URL, a proxy URL or PEM text', () => {
  const bad = [
    { kind: 'relay', url: 'udp://198.51.100.1:51820' },
    { kind: 'relay', url: 'tcp://198.51.100.1:443', proxy: 'socks5://192.0.2.1:1080' },
    { kind: 'relay', url: 'wss://relay.example/wg', clientCert: '/home/me/client.pem', clientKey: key },
    { kind: 'relay', url: 'tcp://198.51.100.1:443', extra: true },
  ];
  for (const value of bad)
    assert.equal(TransportSetting.safeParse(value).success, false, JSON.stringify(value));
});

test('checkTransport: URLs parse, a key comes with its certificate and matches it, TLS options need wss', () => {
  assert.throws(() => checkTransport({ kind: 'relay', url: 'tcp://198.51.100.1' }), /port/i);
  assert.throws(
    () => checkTransport({ kind: 'relay', url: 'wss://relay.example/wg', clientCert: cert }),
    /needs its key/,
  );
  assert.throws(
    () =>
      checkTransport({ kind: 'relay', url: 'wss://relay.example/wg', clientCert: cert, clientKey: otherKey }),
    /does not belong to the client certificate/,
  );
  assert.throws(() => checkTransport({ kind: 'relay', url: 'tcp://198.51.100.1:443', ca: cert }), /wss:\/\//);
  assert.throws(
    () => checkTransport({ kind: 'relay', url: 'tcp://198.51.100.1:443', proxy: 'http://192.0.2.1:3128/x' }),
    /path/,
  );
  const good = {
    kind: 'relay',
    url: 'wss://relay.example/wg',
    clientCert: cert,
    clientKey: key,
    ca: cert,
  } as const;
  assert.deepEqual(checkTransport(good), good);
});

test('a scheme in capitals is the same scheme: the schema, the TLS check and keep all take it', () => {
  const upper = { kind: 'relay', url: 'WSS://Relay.Example/wg', clientCert: cert, clientKey: key } as const;
  assert.equal(TransportSetting.safeParse(upper).success, true);
  assert.deepEqual(checkTransport(upper), upper);
  const stored = { kind: 'relay', url: 'wss://relay.example/wg', clientCert: cert, clientKey: key } as const;
  const edit = {
    kind: 'relay' as const,
    url: 'WSS://relay.example/other',
    keep: ['clientCertificate' as const],
  };
  const kept = withKept(edit, stored);
  assert.equal(kept.kind === 'relay' && kept.clientCert, cert, 'the stored certificate is kept for WSS://');
});

test('what a client sees: the certificate subject, never the key or the proxy password', () => {
  const shown = publicTransport({
    kind: 'relay',
    url: 'wss://relay.example/wg',
    fallback: true,
    proxy: 'http://alice:s3cret@192.0.2.1:3128',
    clientCert: cert,
    clientKey: key,
  });
  assert.deepEqual(shown, {
    kind: 'relay',
    url: 'wss://relay.example/wg',
    fallback: true,
    proxy: 'http://***@192.0.2.1:3128',
    clientCertificate: 'CN=laptop.example',
  });
  assert.ok(!JSON.stringify(shown).includes('s3cret'));
  assert.ok(!JSON.stringify(shown).includes('PRIVATE KEY'));
});

test('the store: 0600 beside the tunnel, udp removes it, rename and delete carry it', async () => {
  const store = new TransportStore(dir);
  assert.deepEqual(await store.get('office'), { kind: 'udp' });
  const relay = { kind: 'relay', url: 'tcp://198.51.100.1:443', fallback: true } as const;
  await store.set('office', relay);
  assert.equal(statSync(join(dir, 'office.transport.json')).mode & 0o777, 0o600);
  assert.deepEqual(await store.get('office'), relay);
  await store.rename('office', 'home');
  assert.equal(existsSync(join(dir, 'office.transport.json')), false);
  assert.deepEqual(await store.get('home'), relay);
  await store.set('home', { kind: 'udp' });
  assert.equal(existsSync(join(dir, 'home.transport.json')), false);
  await store.set('home', relay);
  await store.delete('home');
  assert.deepEqual(await store.get('home'), { kind: 'udp' });
  await assert.rejects(store.set('../etc', relay), /not a valid tunnel name/);
});

test('a stored file that no longer checks is a clear error, not UDP in silence', async () => {
  const store = new TransportStore(dir);
  writeFileSync(join(dir, 'broken.transport.json'), '{"kind":"relay","url":"gopher://x"}', { mode: 0o600 });
  await assert.rejects(
    store.get('broken'),
    /stored transport of broken is not usable.*phantommesh transport broken/,
  );
});

test('keep: an edit takes the stored certificate, CA and proxy it does not give again; keep is never stored', async () => {
  const store = new TransportStore(dir);
  const stored = {
    kind: 'relay',
    url: 'wss://relay.example/wg',
    proxy: 'http://alice:s3cret@192.0.2.1:3128',
    clientCert: cert,
    clientKey: key,
    ca: cert,
  } as const;
  const edit = { kind: 'relay', url: 'wss://relay2.example/wg', fallback: true } as const;
  assert.deepEqual(withKept({ ...edit, keep: ['clientCertificate', 'ca', 'proxy'] }, stored), {
    ...edit,
    proxy: stored.proxy,
    clientCert: cert,
    clientKey: key,
    ca: cert,
  });
  assert.deepEqual(
    withKept({ ...edit, keep: ['ca'] }, stored),
    { ...edit, ca: cert },
    'only what keep names',
  );
  assert.deepEqual(withKept(edit, stored), edit, 'without keep: replaced');
  assert.equal(
    (withKept({ ...edit, proxy: 'http://192.0.2.2:3128', keep: ['proxy'] }, stored) as { proxy?: string })
      .proxy,
    'http://192.0.2.2:3128',
    'a given one wins',
  );
  assert.deepEqual(
    withKept({ ...edit, keep: ['ca'] }, { kind: 'udp' }),
    edit,
    'nothing stored: nothing kept',
  );
  const tcp = { kind: 'relay', url: 'tcp://198.51.100.1:443' } as const;
  assert.deepEqual(
    withKept({ ...tcp, keep: ['clientCertificate', 'ca', 'proxy'] }, stored),
    { ...tcp, proxy: stored.proxy },
    'a tcp:// relay keeps the proxy, not the TLS files',
  );
  await store.set('kept', { ...edit, keep: ['ca'] });
  assert.ok(!readFileSync(join(dir, 'kept.transport.json'), 'utf8').includes('keep'));
});
