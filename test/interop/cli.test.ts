// The `phantommesh` CLI driving the real helper service, against a wireguard-go server.

import { MAX_TUNNELS } from '../../helper/src/service/tunnel-manager.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTopology,
  exec,
  execIn,
  genKeyPair,
  spawnIn,
  testSkipReason,
  startWireguardGo,
  uniqueName,
  type KeyPair,
  type Topology,
} from '../lib/netns.ts';
import { startService, type Service } from '../../scripts/lab/service.ts';
import { ourConfigText, THEIR_PORT, INNER } from '../../scripts/lab/tunnel-pair.ts';

const CLI = new URL('../../helper/src/cli/phantommesh.ts', import.meta.url).pathname;
const skip = testSkipReason();
let topology: Topology;
let service: Service;
let ours: KeyPair;
let dir: string;

/** Runs the CLI; resolves with stdout and the exit code (0 when it succeeded). */
async function cli(...args: string[]): Promise<{ out: string; code: number }> {
  try {
    return { out: await exec(process.execPath, [CLI, '--socket', service.socketPath, ...args]), code: 0 };
  } catch (error) {
    const message = (error as Error).message;
    return { out: message, code: Number(/exit (\d+)/.exec(message)?.[1] ?? -1) };
  }
}

/** Runs the CLI; its exit code, stdout and stderr apart. Every stderr is kept, for the last test. */
function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, '--socket', service.socketPath, ...args],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        messages.push(stderr);
        resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr });
      },
    );
  });
}
const messages: string[] = [];

before(async () => {
  if (skip) return;
  topology = await createTopology();
  [ours] = await Promise.all([genKeyPair()]);
  const theirs = await genKeyPair();
  await startWireguardGo(topology.b.ns, uniqueName('pmc'), {
    privateKey: theirs.privateKey,
    listenPort: THEIR_PORT,
    addresses: [`${INNER.theirs4}/24`],
    peers: [{ publicKey: ours.publicKey, allowedIps: [`${INNER.ours4}/32`] }],
  });
  service = await startService(topology.a.ns);
  dir = await mkdtemp(join(tmpdir(), 'pm-cli-'));
  await writeFile(
    join(dir, 'office.conf'),
    ourConfigText({
      privateKey: ours.privateKey,
      peerPublicKey: theirs.publicKey,
      endpoint: `${topology.b.ipv4}:${THEIR_PORT}`,
      persistentKeepalive: 25,
    }),
    { mode: 0o600 },
  );
});

after(async () => {
  if (skip) return;
  await service.destroy();
  await topology.destroy();
  await rm(dir, { recursive: true, force: true });
});

test('import, list and show: public keys only', { skip }, async () => {
  const imported = await cli('import', join(dir, 'office.conf'));
  assert.equal(imported.code, 0, imported.out);
  assert.match(
    imported.out,
    new RegExp(`imported office \\(public key ${ours.publicKey.replace(/[+/]/g, '\\$&')}\\)`),
  );
  assert.match((await cli('list')).out, /^office\s+disconnected/m);
  const listed = JSON.parse((await cli('--json', 'list')).out) as Array<{ name: string }>;
  assert.deepEqual(
    listed.map((t) => t.name),
    ['office'],
  );
  const shown = await cli('show', 'office');
  assert.match(shown.out, /public key: /);
  assert.ok(!shown.out.includes(ours.privateKey), 'the private key never leaves the helper');
});

test('up, status, down', { skip }, async () => {
  const up = await cli('up', 'office');
  assert.equal(up.code, 0, up.out);
  assert.match(up.out, /office: connected/);
  const status = JSON.parse((await cli('status', '--json')).out) as {
    tunnels: Array<{ state: string; rxBytes: number }>;
  };
  assert.equal(status.tunnels[0]!.state, 'connected');
  assert.match((await cli('status')).out, /latest handshake: \d+ s ago/);
  assert.equal((await cli('down')).code, 0);
  assert.match((await cli('status')).out, /no tunnel is up/);
});

test('new generates a key pair; export hides secrets unless root asks for them', { skip }, async () => {
  const created = await cli('new', 'home');
  assert.match(created.out, /public key: [A-Za-z0-9+/]{43}=/);
  assert.doesNotMatch((await cli('export', 'office')).out, /PrivateKey/);
  assert.match(
    (await cli('export', 'office', '--private-key')).out,
    new RegExp(`PrivateKey = ${ours.privateKey.replace(/[+/]/g, '\\$&')}`),
  );
  assert.equal((await cli('delete', 'home')).code, 0);
  assert.doesNotMatch((await cli('list')).out, /home/);
});

test(
  'no spelling of a secret in a stored file survives export: CRLF, no spaces, no final newline',
  { skip, timeout: 60_000 },
  async () => {
    const psk = Buffer.alloc(32, 9).toString('base64');
    const variants = {
      crlf: `[Interface]\r\nPrivateKey = ${ours.privateKey}\r\n\r\n[Peer]\r\nPublicKey = ${ours.publicKey}\r\nPresharedKey = ${psk}\r\n`,
      tight: `[Interface]\nPrivateKey=${ours.privateKey}\n[Peer]\nPublicKey=${ours.publicKey}\nPresharedKey=${psk}\n`,
      noeol: `[Interface]\nPrivateKey = ${ours.privateKey}\n[Peer]\nPublicKey = ${ours.publicKey}\nPresharedKey = ${psk}`,
    };
    // Files put in the store by hand (an old version, an admin), then the helper (re)started.
    for (const [name, text] of Object.entries(variants))
      await writeFile(join(service.dir, 'state', 'tunnels', `${name}.conf`), text, { mode: 0o600 });
    await service.kill('SIGTERM');
    await service.restart();
    for (const name of Object.keys(variants)) {
      for (const args of [
        ['export', name],
        ['show', name],
      ]) {
        const { out, code } = await cli(...args);
        assert.equal(code, 0, `${args.join(' ')}: ${out}`);
        assert.ok(!out.includes(ours.privateKey) && !out.includes(psk), `${args.join(' ')} leaked a secret`);
      }
      // The store rewrote the file in the one form it writes.
      const stored = await readFile(join(service.dir, 'state', 'tunnels', `${name}.conf`), 'utf8');
      assert.ok(!stored.includes('\r') && stored.endsWith('\n') && stored.includes(`PrivateKey = `), name);
      assert.equal((await cli('delete', name)).code, 0);
    }
    const diagnostics = await cli('diagnostics');
    assert.ok(!diagnostics.out.includes(ours.privateKey));
  },
);

test('kill-switch on|off is a setting', { skip }, async () => {
  assert.match((await cli('kill-switch', 'on')).out, /kill switch on/);
  assert.match((await cli('status')).out, /kill switch: on/);
  assert.match((await cli('kill-switch', 'off')).out, /kill switch off/);
});

test('exit codes mean something: 1 refused, 2 usage, 3 no helper', { skip }, async () => {
  const refused = await cli('show', 'nosuch');
  assert.equal(refused.code, 1);
  assert.match(refused.out, /nosuch/);
  assert.equal((await cli('kill-switch', 'maybe')).code, 2);
  const { code, out } = await exec(process.execPath, [
    CLI,
    '--socket',
    join(dir, 'absent.sock'),
    'list',
  ]).then(
    (o) => ({ code: 0, out: o }),
    (e: Error) => ({ code: Number(/exit (\d+)/.exec(e.message)?.[1]), out: e.message }),
  );
  assert.equal(code, 3);
  assert.match(out, /helper is not available/);
});

test('a user outside the phantommesh group gets exit code 4', { skip }, async () => {
  const denied = await exec('setpriv', [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    process.execPath,
    CLI,
    '--socket',
    service.socketPath,
    'list',
  ]).then(
    () => ({ code: 0, out: '' }),
    (e: Error) => ({ code: Number(/exit (\d+)/.exec(e.message)?.[1]), out: e.message }),
  );
  assert.equal(denied.code, 4, denied.out);
  assert.match(denied.out, /not authorized|permission/i);
});

test('a tunnel whose routes clash with one that is up is refused, naming both', { skip }, async () => {
  const clashing = join(dir, 'clash.conf');
  await writeFile(
    clashing,
    ourConfigText({ privateKey: ours.privateKey, peerPublicKey: ours.publicKey, endpoint: '198.51.100.9:1' }),
  );
  assert.equal((await cli('import', clashing)).code, 0);
  assert.equal((await cli('up', 'office')).code, 0);
  const refused = await cli('up', 'clash');
  assert.equal(refused.code, 1);
  assert.match(refused.out, /clash cannot be up with office: its AllowedIPs 192\.0\.2\.0\/24 overlaps/);
  await cli('down');
  await cli('delete', 'clash');
});

test(
  'status --json carries the counters; the opt-in metrics endpoint serves them on loopback',
  { skip },
  async () => {
    await cli('up', 'office');
    try {
      const status = JSON.parse((await cli('--json', 'status')).out) as {
        tunnels: Array<{ counters: { handshakesCompleted: number; dropped: Record<string, number> } }>;
      };
      assert.ok(status.tunnels[0]!.counters.handshakesCompleted >= 1);
      await service.client.call('settings.set', { metricsPort: 9586 });
      const scraped = await execIn(topology.a.ns, process.execPath, [
        '-e',
        "fetch('http://127.0.0.1:9586/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))",
      ]);
      assert.match(scraped, /^phantommesh_handshakes_total\{tunnel="office"\} [1-9]/m);
      assert.match(scraped, /^phantommesh_tunnel_connected\{tunnel="office"\} 1$/m);
    } finally {
      await service.client.call('settings.set', { metricsPort: null });
      await cli('down');
    }
  },
);

test(
  'a metrics port another user took: refused and not saved; at start-up the helper comes up anyway',
  { skip, timeout: 60_000 },
  async () => {
    // Any local user can listen on a free port in the helper's namespace.
    const squatter = spawnIn(topology.a.ns, process.execPath, [
      '-e',
      "require('net').createServer().listen(9587, '127.0.0.1', () => console.log('listening'))",
    ]);
    try {
      await squatter.waitForLine(/listening/, 5000);
      await assert.rejects(service.client.call('settings.set', { metricsPort: 9587 }), (error: Error) =>
        /metrics cannot listen on 127\.0\.0\.1:9587/.test(error.message),
      );
      assert.equal((await service.client.call('settings.get', {})).metricsPort, null, 'not saved');

      // Saved while free, taken while the helper was stopped: it starts, says so, and serves.
      await service.client.call('settings.set', { metricsPort: 9588 });
      await service.kill('SIGTERM');
      const second = spawnIn(topology.a.ns, process.execPath, [
        '-e',
        "require('net').createServer().listen(9588, '127.0.0.1', () => console.log('listening'))",
      ]);
      try {
        await second.waitForLine(/listening/, 5000);
        await service.restart();
        assert.match(service.process.output(), /metrics cannot listen on 127\.0\.0\.1:9588.*metrics are off/);
        assert.equal((await cli('list')).code, 0, 'the helper serves');
      } finally {
        await second.stop();
      }
    } finally {
      await squatter.stop();
      await service.client.call('settings.set', { metricsPort: null });
    }
  },
);

test(
  'the store holds at most MAX_TUNNELS: one more is refused by name',
  { skip, timeout: 60_000 },
  async () => {
    const existing = (await service.client.call('tunnels.list', {})).length;
    const made: string[] = [];
    try {
      for (let i = existing; i < MAX_TUNNELS; i++) {
        const name = `cap${i}`;
        await service.client.call('tunnels.create', { name });
        made.push(name);
      }
      const refused = await cli('new', 'onemore');
      assert.equal(refused.code, 1);
      assert.match(refused.out, new RegExp(`at most ${MAX_TUNNELS} tunnels`));
    } finally {
      for (const name of made) await service.client.call('tunnels.delete', { name });
    }
  },
);

test('diagnostics: sections for a bug report, and no secrets', { skip }, async () => {
  const report = (await cli('diagnostics')).out;
  for (const section of [
    'versions',
    'tunnel office (secrets removed)',
    'ip rule',
    'routes',
    '/etc/resolv.conf',
    'recent log',
  ])
    assert.ok(report.includes(`== ${section} ==`), `has ${section}`);
  assert.ok(!report.includes(ours.privateKey));
});

test('logs shows what the helper did', { skip }, async () => {
  // Independent of what earlier tests did (some restart the helper, which starts a new log).
  await cli('up', 'office');
  await cli('down', 'office');
  assert.match((await cli('logs')).out, /connecting office/);
});

test(
  'up fails after --timeout when the peer never answers, says why, and leaves the tunnel trying',
  { skip },
  async () => {
    const keys = await genKeyPair();
    const peer = await genKeyPair();
    // Nothing in the namespace answers (or routes) 203.0.113.9: the handshake goes unanswered.
    const file = join(dir, 'silent.conf');
    await writeFile(
      file,
      [
        '[Interface]',
        `PrivateKey = ${keys.privateKey}`,
        'Address = fd00:77::1/64',
        '[Peer]',
        `PublicKey = ${peer.publicKey}`,
        'AllowedIPs = fd00:77::/64',
        'Endpoint = 203.0.113.9:51820',
        '',
      ].join('\n'),
    );
    assert.equal((await run('import', file)).code, 0);
    try {
      const started = Date.now();
      const up = await run('up', 'silent', '--timeout', '2');
      const took = Date.now() - started;
      assert.equal(up.code, 1, up.stderr);
      assert.ok(took >= 2000 && took < 15_000, `took ${took} ms`);
      assert.equal(up.stdout, '');
      const lines = up.stderr.trimEnd().split('\n');
      assert.equal(
        lines[0],
        `phantommesh: silent did not connect within 2 s: no handshake answer from peer ${peer.publicKey} ` +
          'at 203.0.113.9:51820',
      );
      assert.match(up.stderr, /keeps trying/);
      assert.equal(
        lines.at(-1),
        'silent stays up and keeps trying, as wg-quick would leave it; to stop it: phantommesh down silent',
      );
      // As said: still up, still trying.
      const status = JSON.parse((await run('--json', 'status')).stdout) as {
        tunnels: Array<{ name: string; state: string }>;
      };
      assert.match(
        status.tunnels.find((t) => t.name === 'silent')?.state ?? 'gone',
        /^(connecting|reconnecting)$/,
      );
      // --json still prints the status for scripts, with the same exit code.
      const json = await run('--json', 'up', 'silent', '--timeout', '1');
      assert.equal(json.code, 1);
      assert.equal((JSON.parse(json.stdout) as { name: string }).name, 'silent');
      assert.match(json.stderr, /silent did not connect within 1 s/);

      const down = await run('down', 'silent');
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.stdout.trim(), 'silent is down');
    } finally {
      await run('down', 'silent');
      await run('delete', 'silent');
    }
  },
);

test(
  'down: an unknown tunnel is an error, as for up; a stored one that is not up is fine',
  { skip },
  async () => {
    for (const command of ['down', 'up']) {
      const result = await run(command, 'nosuch');
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /^phantommesh: .*no tunnel named nosuch$/m);
    }
    const notUp = await run('down', 'office');
    assert.equal(notUp.code, 0, notUp.stderr);
    assert.equal(notUp.stdout.trim(), 'office was not up');
  },
);

test(
  'import: every config error with file and line; nothing is stored; a taken name suggests --name',
  { skip },
  async () => {
    const file = join(dir, 'broken.conf');
    await writeFile(
      file,
      [
        '[Interface]',
        `PrivateKey = ${ours.privateKey}`,
        'Address = 192.0.2.1/33',
        'DNS = 10.0.0.300',
        '[Peer]',
        'AllowedIPs = 192.0.2.0/24',
        'PublicKey = too-short',
        '',
      ].join('\n'),
    );
    const result = await run('import', file);
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(
      result.stderr
        .trimEnd()
        .split('\n')
        .map((line) => line.split(': ')[0]),
      [`${file}:3`, `${file}:4`, `${file}:7`, `phantommesh`],
      result.stderr,
    );
    assert.match(result.stderr, /has 3 errors; nothing was imported/);
    assert.doesNotMatch((await run('list')).stdout, /broken/);

    const again = await run('import', join(dir, 'office.conf'));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a tunnel named office already exists; choose another name with --name NAME/);
  },
);

test(
  'transport: a relay set, shown and reset from the CLI; files read as the user, no key or password shown',
  { skip },
  async () => {
    const pem = join(dir, 'me.pem');
    const key = join(dir, 'me.key');
    const otherKey = join(dir, 'other.key');
    await exec('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', key, '-out', pem, '-days', '1', '-subj', '/CN=laptop.example'],
    ]);
    await exec('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-out',
      otherKey,
    ]);
    assert.match((await run('transport', 'office')).stdout, /^office: udp/);

    const url = 'wss://198.51.100.9/wg';
    const proxy = 'http://roamer:s3cret@192.0.2.9:3128';
    const set = await run(
      'transport',
      'office',
      url,
      '--fallback',
      '--proxy',
      proxy,
      '--client-cert',
      pem,
      '--client-key',
      key,
      '--ca',
      pem,
    );
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /relay: wss:\/\/198\.51\.100\.9\/wg \(fallback: UDP first\)/);
    assert.match(set.stdout, /proxy: http:\/\/\*\*\*@192\.0\.2\.9:3128/);
    assert.match(set.stdout, /client certificate: CN=laptop\.example/);
    const shown = await run('--json', 'transport', 'office');
    assert.deepEqual(JSON.parse(shown.stdout), {
      kind: 'relay',
      url,
      fallback: true,
      proxy: 'http://***@192.0.2.9:3128',
      clientCertificate: 'CN=laptop.example',
      ca: 'CN=laptop.example',
    });
    for (const out of [set.stdout, shown.stdout]) {
      assert.doesNotMatch(out, /PRIVATE KEY|s3cret/);
    }
    // An edit of the URL with --keep keeps the stored certificate, key, CA and proxy; without, they go.
    const moved = 'wss://198.51.100.10/wg';
    const kept = await run('--json', 'transport', 'office', moved, '--keep');
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual(JSON.parse(kept.stdout), { ...JSON.parse(shown.stdout), url: moved, fallback: false });
    await run(
      'transport',
      'office',
      url,
      '--fallback',
      '--proxy',
      proxy,
      '--client-cert',
      pem,
      '--client-key',
      key,
      '--ca',
      pem,
    );

    // Usage mistakes are found before the helper is asked (exit 2), unreadable files too.
    const usage = [
      [['transport', 'office', 'udp', '--fallback'], /go with a relay URL/],
      [['transport', 'office', 'udp', '--keep'], /go with a relay URL/],
      [['transport', 'office', 'ftp://198.51.100.9'], /neither udp nor a relay URL/],
      [['transport', 'office', url, '--client-cert', pem], /--client-cert and --client-key go together/],
      [
        ['transport', 'office', url, '--client-cert', join(dir, 'missing.pem'), '--client-key', key],
        /--client-cert: cannot read .*no such file/,
      ],
    ] as const;
    for (const [args, message] of usage) {
      const refused = await run(...args);
      assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.stderr}`);
      assert.match(refused.stderr, message);
    }
    // The helper checks what the CLI cannot: a key that is not the certificate's (exit 1).
    const mismatch = await run('transport', 'office', url, '--client-cert', pem, '--client-key', otherKey);
    assert.equal(mismatch.code, 1, mismatch.stderr);
    assert.match(mismatch.stderr, /the client key does not belong to the client certificate/);
    assert.equal(JSON.parse((await run('--json', 'transport', 'office')).stdout).url, url, 'unchanged');

    assert.match((await run('transport', 'office', 'udp')).stdout, /^office: udp/);
  },
);

test("the helper's refusals name no internal method", { skip }, async () => {
  // The CLI checks names itself; a client that does not still reads no method name.
  await assert.rejects(service.client.call('tunnels.connect', { name: 'my office' }), (error: Error) => {
    assert.equal((error as Error & { code: string }).code, 'INVALID_PARAMS');
    assert.match(error.message, /^name: a tunnel name is 1-15 letters/);
    return true;
  });
  // Whatever the CLI said in this file, no message names one either.
  assert.ok(messages.length > 0);
  for (const message of messages) assert.doesNotMatch(message, /tunnels\./);
});
