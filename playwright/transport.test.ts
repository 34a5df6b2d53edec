// A tunnel's transport through the app's UI, in Debian's Chromium, against the real helper service (in
// a network namespace, with a wireguard-go server): set a wss:// relay with fallback, a proxy with a
// password and a client certificate, key and CA; read it back from the helper; see the helper's view
// (proxy redacted, certificate and CA subjects) in the UI; switch back to UDP; and a connected tunnel
// says what carries it. The key's contents never reach the page, not even in a WebSocket frame.
//
// The browser host runs in this process (startWebHost) rather than as scripts/web.ts: the browser has
// no desktop file dialog, so the test gives the host a stand-in for Electron's (chooseTransportFile)
// that answers the paths of the test PKI. Everything after the dialog is the app's own: the main-process
// side reads the file, keeps it under a token, and swaps the token for the PEM when it calls the helper.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TransportFileKind } from '../shared/src/ipc/schema.ts';
import { startWebHost, type WebHost } from '../app/web/web-host.ts';
import {
  createTopology,
  genKeyPair,
  hasCommand,
  missingPrerequisites,
  skipOutsideCi,
  startWireguardGo,
  uniqueName,
  type Topology,
} from '../test/lib/netns.ts';
import { makeTestPki, type TestPki } from '../test/lib/test-certs.ts';
import { startService, type Service } from '../scripts/lab/service.ts';
import { INNER, ourConfigText, THEIR_PORT } from '../scripts/lab/tunnel-pair.ts';

const CHROMIUM = '/usr/bin/chromium';
const RENDERER = new URL('../dist/renderer/', import.meta.url).pathname;
const SHOTS = new URL('../test-results/', import.meta.url).pathname;
/** Unique machine-wide: UAPI sockets and interfaces are shared by every test running at once. */
const TUNNEL = 'transp1';
const RELAY = 'wss://relay.example.com:8443/wg';
const PROXY = 'http://alice:s3cret-pw@proxy.example.com:3128';

function whySkip(): string | undefined {
  const missing = missingPrerequisites();
  if (missing) return missing;
  if (!existsSync(CHROMIUM)) return 'Debian chromium is not installed (apt-get install chromium)';
  if (!existsSync(join(RENDERER, 'index.html'))) return 'the renderer is not built (npm run build)';
  if (!hasCommand('openssl')) return 'openssl is not installed';
  return undefined;
}
const skip = skipOutsideCi(whySkip());

let topology: Topology;
let service: Service;
let web: WebHost;
let browser: Browser;
let page: Page;
let pki: TestPki;
let scratch: string;
/** What the stand-in dialog answers next, in order. */
const picks: string[] = [];
/** Every WebSocket frame between the page and the host, both ways. */
const frames: string[] = [];

const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

before(async () => {
  if (skip) return;
  await mkdir(SHOTS, { recursive: true });
  scratch = await mkdtemp(join(tmpdir(), 'pm-transport-ui-'));
  pki = await makeTestPki(await mkdtemp(join(scratch, 'pki-')), ['127.0.0.1'], ['relay.example.com']);
  topology = await createTopology();
  const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
  await startWireguardGo(topology.b.ns, uniqueName('pmt'), {
    privateKey: theirs.privateKey,
    listenPort: THEIR_PORT,
    addresses: [`${INNER.theirs4}/24`],
    peers: [{ publicKey: ours.publicKey, allowedIps: [`${INNER.ours4}/32`] }],
  });
  service = await startService(topology.a.ns);
  await service.client.call('tunnels.import', {
    name: TUNNEL,
    text: ourConfigText({
      privateKey: ours.privateKey,
      peerPublicKey: theirs.publicKey,
      endpoint: `${topology.b.ipv4}:${THEIR_PORT}`,
      persistentKeepalive: 25,
    }),
  });
  web = await startWebHost({
    socketPath: service.socketPath,
    port: 0,
    rendererDir: RENDERER,
    downloadsDir: scratch,
    configDir: scratch,
    version: '0.0.0-test',
    log: () => {},
    // The stand-in for Electron's dialog.showOpenDialog.
    chooseTransportFile: async (_kind: TransportFileKind) => picks.shift() ?? null,
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => void frames.push(String(payload)));
    socket.on('framereceived', ({ payload }) => void frames.push(String(payload)));
  });
  await page.goto(web.url);
});

after(async () => {
  if (skip) return;
  await browser?.close();
  await web?.close();
  await service?.client.call('tunnels.delete', { name: TUNNEL }).catch(() => {});
  await service?.destroy();
  await topology?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A line of the key's base64 body: what would show if the key leaked anywhere. */
async function keyMaterial(): Promise<string[]> {
  const pem = await readFile(pki.clientKey, 'utf8');
  return pem.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----'));
}

test(
  "set a wss:// relay with fallback, proxy and client certificate through the UI (files through the test host's stand-in for the Electron dialog); the helper has it",
  { skip, timeout: 60_000 },
  async () => {
    await page.getByRole('option').filter({ hasText: TUNNEL }).click();
    const card = page.getByRole('region', { name: 'Transport' });
    await card.getByText('UDP (WireGuard’s own)').waitFor();
    await card.getByRole('button', { name: 'Change transport…' }).click();
    const dialog = page.getByRole('dialog', { name: `Transport of ${TUNNEL}` });
    await dialog.getByLabel('Relay', { exact: true }).check();

    // The renderer's checks, before anything is sent.
    const url = dialog.getByLabel('Relay URL');
    await url.fill('https://relay.example.com/wg');
    await url.blur();
    await dialog.getByRole('alert').filter({ hasText: 'https:// is not a relay transport' }).waitFor();
    await url.fill('tcp://relay.example.com');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'tcp:// needs a port' }).waitFor();
    await shot('20-transport-invalid');
    await url.fill(RELAY);
    await dialog.getByLabel('Use UDP first, relay as fallback').check();
    await dialog.getByLabel('HTTP proxy (optional)').fill(PROXY);

    // Files: the app reads them; the page gets their names.
    picks.push(pki.clientCert);
    await dialog.getByRole('button', { name: 'Client certificate: Choose file…' }).click();
    await dialog.getByText('client.pem').waitFor();
    picks.push(pki.clientKey);
    await dialog.getByRole('button', { name: 'Client key: Choose file…' }).click();
    await dialog.getByText('client.key').waitFor();
    picks.push(pki.ca);
    await dialog.getByRole('button', { name: 'CA certificate (optional): Choose file…' }).click();
    await dialog.getByText('test-ca.pem').waitFor();
    await shot('21-transport-dialog');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 15_000 });

    // The real helper holds it, key checked against its certificate.
    const stored = await service.client.call('tunnels.transport.get', { name: TUNNEL });
    assert.equal(stored.kind, 'relay');
    assert.ok(stored.kind === 'relay');
    assert.equal(stored.url, RELAY);
    assert.equal(stored.fallback, true);
    assert.equal(stored.proxy, 'http://***@proxy.example.com:3128');
    assert.match(stored.clientCertificate ?? '', /CN=/);
    assert.match(stored.ca ?? '', /CN=/);

    // The UI shows the helper's view.
    await card.getByText(RELAY).waitFor();
    await card.getByText('UDP first; the relay while UDP goes unanswered').waitFor();
    await card.getByText('http://***@proxy.example.com:3128').waitFor();
    await card.getByText(stored.clientCertificate!).waitFor();
    await card.getByText(stored.ca!).waitFor();
    // The confirmation would cover the card in the screenshot.
    await page.getByRole('button', { name: 'Close' }).last().click();
    await card.scrollIntoViewIfNeeded();
    await card.screenshot({ path: `${SHOTS}22-transport-relay.png` });

    // Neither the key nor the proxy password ever reached the page.
    const content = await page.content();
    const seen = [content, ...frames].join('\n');
    for (const line of await keyMaterial()) assert.ok(!seen.includes(line), 'no key material in the page');
    assert.ok(!content.includes('s3cret-pw'), 'no proxy password in the page after saving');
    assert.ok(
      frames.some((frame) => frame.includes('"transport.set"')),
      'the frames were recorded',
    );
    assert.ok(!frames.some((frame) => frame.includes('PRIVATE KEY')), 'no PEM key in any frame');
  },
);

test('an edit keeps the stored files and proxy unless told not to', { skip }, async () => {
  const card = page.getByRole('region', { name: 'Transport' });
  const before = await service.client.call('tunnels.transport.get', { name: TUNNEL });
  await card.getByRole('button', { name: 'Change transport…' }).click();
  const dialog = page.getByRole('dialog', { name: `Transport of ${TUNNEL}` });
  // Opened on what is stored; the redacted proxy is not filled in, and what is stored is kept.
  assert.equal(await dialog.getByLabel('HTTP proxy (optional)').inputValue(), '');
  assert.equal(await dialog.getByLabel('Keep the stored certificate files and proxy').isChecked(), true);
  assert.equal(await dialog.getByText(/Saving replaces the stored files/).count(), 0);
  await dialog.getByLabel('Use UDP first, relay as fallback').uncheck();
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'detached', timeout: 15_000 });
  assert.deepEqual(await service.client.call('tunnels.transport.get', { name: TUNNEL }), {
    ...before,
    fallback: false,
  });
});

test('the dialog warns that saving replaces the stored files; switch back to UDP', { skip }, async () => {
  const card = page.getByRole('region', { name: 'Transport' });
  await card.getByRole('button', { name: 'Change transport…' }).click();
  const dialog = page.getByRole('dialog', { name: `Transport of ${TUNNEL}` });
  // Opened on what is stored; the redacted proxy is not filled in but asked for again once keeping
  // what is stored is unticked.
  assert.equal(await dialog.getByLabel('Relay URL').inputValue(), RELAY);
  assert.equal(await dialog.getByLabel('HTTP proxy (optional)').inputValue(), '');
  await dialog.getByLabel('Keep the stored certificate files and proxy').uncheck();
  await dialog.getByText('type it again').waitFor();
  await dialog.getByText(/Saving replaces the stored files/).waitFor();
  await dialog.getByLabel('UDP', { exact: true }).check();
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'detached', timeout: 15_000 });
  assert.deepEqual(await service.client.call('tunnels.transport.get', { name: TUNNEL }), { kind: 'udp' });
  await card.getByText('UDP (WireGuard’s own)').waitFor();
  assert.equal(await card.getByText(RELAY).count(), 0);
});

test(
  'a connected tunnel says what carries it, in the list and the detail',
  { skip, timeout: 60_000 },
  async () => {
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /Connected/ })
      .waitFor({ timeout: 20_000 });
    const row = page.getByRole('option').filter({ hasText: TUNNEL });
    await row.locator('.tunnel-row-sub').filter({ hasText: /^UDP$/ }).waitFor({ timeout: 10_000 });
    await page.getByTestId('carried-by').filter({ hasText: 'UDP' }).waitFor();
    await shot('23-carried-by-udp');
    await page.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /Disconnected/ })
      .waitFor({ timeout: 10_000 });
  },
);

test(
  'a tunnel carried by its relay says "via relay" and why (the status is injected into the page\'s WebSocket: the real relay carrier is tested in the helper\'s interop tests)',
  { skip },
  async () => {
    const other = await browser.newPage({ viewport: { width: 1100, height: 720 } });
    try {
      let inject: ((text: string) => void) | undefined;
      await other.routeWebSocket(/\/ipc\?/, (socket) => {
        // Everything else still goes to the host and back.
        socket.connectToServer();
        inject = (text) => socket.send(text);
      });
      await other.goto(web.url);
      await other.getByRole('option').filter({ hasText: TUNNEL }).click();
      const reason = 'UDP handshakes went unanswered for 15 s';
      inject!(
        JSON.stringify({
          event: {
            type: 'helper',
            event: {
              type: 'tunnel-state',
              status: {
                name: TUNNEL,
                state: 'connected',
                transport: { kind: 'relay', url: RELAY, reason },
                interfaceAddresses: [`${INNER.ours4}/24`],
                rxBytes: 0,
                txBytes: 0,
                peers: [],
              },
            },
          },
        }),
      );
      const row = other.getByRole('option').filter({ hasText: TUNNEL });
      const sub = row.locator('.tunnel-row-sub');
      await sub.filter({ hasText: `via relay ${RELAY}` }).waitFor();
      assert.equal(await sub.getAttribute('title'), reason);
      await other
        .getByTestId('carried-by')
        .filter({ hasText: `via relay ${RELAY} (${reason})` })
        .waitFor();
      await other.screenshot({ path: `${SHOTS}24-carried-by-relay.png` });
    } finally {
      await other.close();
    }
  },
);
