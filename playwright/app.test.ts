// The app's renderer in Debian's Chromium, through the browser host, against the real helper service
// (in a network namespace, with a wireguard-go server): import, connect, watch it work, disconnect,
// a config error, and the helper going away and coming back. Screenshots of each main screen go to
// test-results/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  createTopology,
  execIn,
  genKeyPair,
  missingPrerequisites,
  spawnIn,
  startWireguardGo,
  uniqueName,
  type Spawned,
  type Topology,
} from '../test/lib/netns.ts';
import { startService, type Service } from '../test/lib/service.ts';
import { INNER, ourConfigText, THEIR_PORT } from '../test/lib/tunnel-pair.ts';

const CHROMIUM = '/usr/bin/chromium';
const WEB_HOST = new URL('../scripts/web.ts', import.meta.url).pathname;
const RENDERER = new URL('../dist/renderer/index.html', import.meta.url).pathname;
const SHOTS = new URL('../test-results/', import.meta.url).pathname;

function whySkip(): string | false {
  const missing = missingPrerequisites();
  if (missing) return missing;
  if (!existsSync(CHROMIUM)) return 'Debian chromium is not installed (apt-get install chromium)';
  if (!existsSync(RENDERER)) return 'the renderer is not built (npm run build)';
  return false;
}
const skip = whySkip();

let topology: Topology;
let service: Service;
let host: Spawned;
let browser: Browser;
let page: Page;
let configText: string;

const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

before(async () => {
  if (skip) return;
  await mkdir(SHOTS, { recursive: true });
  topology = await createTopology();
  const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
  await startWireguardGo(topology.b.ns, uniqueName('pmw'), {
    privateKey: theirs.privateKey,
    listenPort: THEIR_PORT,
    addresses: [`${INNER.theirs4}/24`],
    peers: [{ publicKey: ours.publicKey, allowedIps: [`${INNER.ours4}/32`] }],
  });
  configText = ourConfigText({
    privateKey: ours.privateKey,
    peerPublicKey: theirs.publicKey,
    endpoint: `${topology.b.ipv4}:${THEIR_PORT}`,
    persistentKeepalive: 25,
  });
  service = await startService(topology.a.ns);
  // The host is a client like the CLI: it runs in the browser's namespace and reaches the helper's
  // socket (in namespace A's helper, but a file like any other) by path.
  host = spawnIn(null, process.execPath, [WEB_HOST, '--socket', service.socketPath, '--port', '0']);
  const line = await host.waitForLine(
    /PhantomMesh browser host: http:\/\/127\.0\.0\.1:\d+\/\?token=/,
    15_000,
  );
  const url = /http:\/\/\S+/.exec(line)![0];
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  await page.goto(url);
});

after(async () => {
  if (skip) return;
  await browser?.close();
  await host?.stop();
  await service?.destroy();
  await topology?.destroy();
});

test('empty state, then import a tunnel by pasting its configuration', { skip }, async () => {
  await page.getByText('No tunnels yet').waitFor();
  await shot('01-empty');
  await page.getByRole('button', { name: 'Import tunnel', exact: true }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Import tunnel' });
  await dialog.getByLabel('Tunnel name').fill('office');
  await dialog.getByLabel('Configuration').fill(configText);
  await shot('02-import');
  await dialog.getByRole('button', { name: 'Import', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Connect', exact: true }).waitFor();
  assert.ok(
    !(await page.content()).includes(configText.match(/PrivateKey = (.*)/)![1]!),
    'no private key in the page',
  );
});

test('connect: Connected, a recent handshake, and growing counters; then disconnect', { skip }, async () => {
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  const status = page.getByRole('status').filter({ hasText: /Connected/ });
  await status.waitFor({ timeout: 20_000 });
  await page
    .getByText(/seconds? ago/)
    .first()
    .waitFor({ timeout: 10_000 });
  const received = async () => Number((await page.getByTestId('rx-bytes').getAttribute('data-bytes')) ?? 0);
  const before = await received();
  await execIn(topology.a.ns, 'ping', ['-c', '5', '-i', '0.2', '-s', '1000', INNER.theirs4]);
  const deadline = Date.now() + 10_000;
  while ((await received()) <= before) {
    assert.ok(Date.now() < deadline, 'the received counter grows with traffic');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await shot('03-connected');
  await page.getByRole('button', { name: 'Disconnect', exact: true }).click();
  await page
    .getByRole('status')
    .filter({ hasText: /Disconnected/ })
    .waitFor({ timeout: 10_000 });
});

test('an invalid configuration shows its line-numbered error', { skip }, async () => {
  await page.getByRole('button', { name: 'Import tunnel', exact: true }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Import tunnel' });
  await dialog.getByLabel('Tunnel name').fill('broken');
  await dialog.getByLabel('Configuration').fill(configText.replace('192.0.2.0/24', '192.0.2.0/33'));
  await dialog.getByRole('button', { name: 'Import', exact: true }).click();
  const alert = dialog.getByRole('alert');
  await alert.filter({ hasText: /line 7/i }).waitFor({ timeout: 5000 });
  assert.match((await alert.first().textContent()) ?? '', /AllowedIPs/);
  await shot('04-config-error');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
});

test('settings and logs screens', { skip }, async () => {
  await page
    .getByRole('tab', { name: 'Settings' })
    .or(page.getByRole('link', { name: 'Settings' }))
    .click();
  await page.getByLabel('Kill switch').waitFor();
  await shot('05-settings');
  await page
    .getByRole('tab', { name: 'Logs' })
    .or(page.getByRole('link', { name: 'Logs' }))
    .click();
  await page
    .getByText(/connecting office/)
    .first()
    .waitFor({ timeout: 5000 });
  await shot('06-logs');
  await page
    .getByRole('tab', { name: 'Tunnels' })
    .or(page.getByRole('link', { name: 'Tunnels' }))
    .click();
});

test(
  'the helper stopping shows "helper unavailable", and the app recovers when it returns',
  { skip },
  async () => {
    await service.kill('SIGTERM');
    await page
      .getByRole('heading', { name: 'PhantomMesh helper is not running' })
      .waitFor({ timeout: 15_000 });
    await shot('07-helper-unavailable');
    await service.restart();
    await page.getByRole('button', { name: 'Connect', exact: true }).waitFor({ timeout: 30_000 });
  },
);
