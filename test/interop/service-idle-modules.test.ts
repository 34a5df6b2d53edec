// What the idle helper service carries all day is mostly what it loaded (docs/performance.md): with no
// tunnel up, neither the tunnel code (WireGuard, the data path) nor node:crypto, Node's DNS,
// readline, perf_hooks, HTTP or TLS, even with tunnels stored and a client showing them. The real
// service, started as the tests start it, reports what it loaded through a preloaded module;
// creating a tunnel then loads the WireGuard crypto, which shows the report is live. A tunnel up loads
// neither node:crypto nor perf_hooks either: its crypto goes through OpenSSL (koffi), its clock is
// process.uptime() (helper/src/clock.ts).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startService, type Service } from '../../scripts/lab/service.ts';
import { ourConfigText } from '../../scripts/lab/tunnel-pair.ts';
import {
  addNamespace,
  deleteNamespace,
  execIn,
  genKeyPair,
  testSkipReason,
  uniqueName,
} from '../lib/netns.ts';

// Preloaded into the helper: every 100 ms, when it was taken, the built-in modules the helper has
// loaded and the URLs of its own, written whole (a temporary file renamed over the report).
const REPORTER = `
import { registerHooks } from 'node:module';
import { renameSync, writeFileSync } from 'node:fs';
const urls = new Set();
registerHooks({ load(url, context, next) { urls.add(url); return next(url, context); } });
setInterval(() => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
  const report = process.env.PM_MODULES_REPORT;
  writeFileSync(report + '.tmp', JSON.stringify({ time: Date.now(), builtins, urls: [...urls] }));
  renameSync(report + '.tmp', report);
}, 100).unref();
`;

/** Built-in modules that only a tunnel, a relay, metrics or a key need. */
const NOT_IDLE = ['crypto', 'dns', 'dns/promises', 'readline', 'perf_hooks', 'http', 'https', 'tls'];
/** The helper's tunnel code: the WireGuard protocol, the TUN device, the tunnel and its runners (not
 *  wireguard/x25519.ts and the OpenSSL bindings it uses: the public keys the service shows). */
const TUNNEL_CODE =
  /\/helper\/src\/(wireguard\/(?!x25519\.ts|openssl\.ts)|tun\/|tunnel\/(tunnel|wireguard-interface|runner|dropin)\.ts)/;

const skip = testSkipReason();
let ns: string;
let dir: string;
let service: Service;

/** The first report taken after this call: newer than whatever the caller just did. */
async function report(): Promise<{ builtins: string[]; urls: string[] }> {
  const asked = Date.now();
  for (const deadline = asked + 10_000; Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const taken = JSON.parse(await readFile(join(dir, 'modules.json'), 'utf8'));
    if (taken.time > asked) return taken;
  }
  throw new Error('the helper wrote no report for 10 s');
}

before(async () => {
  if (skip) return;
  ns = uniqueName('pm-idle');
  await addNamespace(ns);
  dir = await mkdtemp(join(tmpdir(), 'pm-idle-modules-'));
  await writeFile(join(dir, 'reporter.mjs'), REPORTER);
  service = await startService(ns, {
    nodeArgs: ['--import', join(dir, 'reporter.mjs')],
    env: { PM_MODULES_REPORT: join(dir, 'modules.json') },
  });
});

after(async () => {
  if (skip) return;
  await service?.destroy();
  await deleteNamespace(ns);
  await rm(dir, { recursive: true, force: true });
});

test(
  "the idle service with a tunnel stored, restarted and listed by a client, has loaded no tunnel code and none of Node's crypto, DNS, readline, perf_hooks, HTTP or TLS",
  { skip },
  async () => {
    const keys = await genKeyPair();
    const text = ourConfigText({
      privateKey: keys.privateKey,
      peerPublicKey: keys.publicKey,
      endpoint: '198.51.100.2:51820',
    });
    await service.client.call('tunnels.import', { name: 'idle0', text });
    // What the tray app finds after a reboot: the stored tunnel, listed with its public key.
    await service.kill('SIGTERM');
    await service.restart();
    const [summary] = await service.client.call('tunnels.list', {});
    assert.equal(summary?.publicKey, keys.publicKey);
    await service.client.call('tunnels.get', { name: 'idle0' });
    const { builtins, urls } = await report();
    assert.ok(builtins.includes('net'), 'the report lists what was loaded');
    assert.deepEqual(
      NOT_IDLE.filter((name) => builtins.includes(name)),
      [],
    );
    assert.deepEqual(
      urls.filter((url) => TUNNEL_CODE.test(url)),
      [],
    );
  },
);

test(
  'creating a tunnel (a new key pair) loads the WireGuard crypto, through OpenSSL: not node:crypto',
  { skip },
  async () => {
    await service.client.call('tunnels.create', { name: 'idle1' });
    const { builtins, urls } = await report();
    assert.ok(urls.some((url) => url.endsWith('/helper/src/wireguard/crypto.ts')));
    assert.equal(builtins.includes('crypto'), false);
  },
);

test(
  'a tunnel up (its warm-up ran a handshake and packets in memory) loads none of node:crypto, perf_hooks or DNS',
  { skip },
  async () => {
    // A route to the endpoint, so that the tunnel comes up: a veth pair inside the namespace, with
    // nothing answering at the other end.
    await execIn(ns, 'ip', ['link', 'add', 'pmidle-d', 'type', 'veth', 'peer', 'name', 'pmidle-e']);
    await execIn(ns, 'ip', ['link', 'set', 'pmidle-e', 'up']);
    await execIn(ns, 'ip', ['address', 'add', '198.51.100.1/24', 'dev', 'pmidle-d']);
    await execIn(ns, 'ip', ['link', 'set', 'pmidle-d', 'up']);
    const peer = await genKeyPair();
    const keys = await genKeyPair();
    await service.client.call('tunnels.import', {
      name: 'up0',
      text: ourConfigText({
        privateKey: keys.privateKey,
        peerPublicKey: peer.publicKey,
        endpoint: '198.51.100.2:51820',
      }),
    });
    await service.client.call('tunnels.connect', { name: 'up0' });
    try {
      const { builtins, urls } = await report();
      assert.ok(
        urls.some((url) => url.endsWith('/helper/src/wireguard/warm-up.ts')),
        'the tunnel code is loaded',
      );
      assert.deepEqual(
        ['crypto', 'perf_hooks', 'dns', 'dns/promises'].filter((name) => builtins.includes(name)),
        [],
      );
    } finally {
      await service.client.call('tunnels.disconnect', {});
    }
  },
);
