// Huge configurations through the UAPI socket, as wireguard-go's tests/netns.sh checks them ("things
// that usually cause split responses"): `phantommesh-helper INTERFACE` configured by the stock
// `wg setconf` and read back by `wg show`. The IPv4 /16s are the reference's (they span the IPv4
// space); they are only cryptokey-routing entries of a peer without endpoint: no route, address or
// packet ever uses them. The IPv6 /128s are in fd00::/8.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execIn, testSkipReason } from '../lib/netns.ts';
import { DropinWorld, randomKey } from '../lib/dropin-world.ts';

const skip = testSkipReason();
/** Generous: the reference's 130,560 allowed IPs apply in under a second here. */
const APPLY_TIMEOUT_MS = 20_000;

let world: DropinWorld;
let ns: string;

before(async () => {
  if (skip) return;
  world = await DropinWorld.create();
  ns = await world.namespace();
});

after(async () => {
  if (skip) return;
  await world.destroy();
});

const wg = (args: string[]): Promise<string> => execIn(ns, 'wg', args, { timeoutMs: APPLY_TIMEOUT_MS });

test('one peer with 255 x 256 x 2 allowed IPs: set by wg setconf, read back complete', { skip }, async () => {
  const name = await world.start('phantommesh', ns);
  const peer = randomKey();
  const expected: string[] = [];
  const lines = ['[Interface]', `PrivateKey = ${randomKey()}`, '[Peer]', `PublicKey = ${peer}`];
  for (let a = 1; a <= 255; a++) {
    for (let b = 0; b <= 255; b++) {
      // As inet_ntop prints them (fd00:1:: for b = 0), which is how `wg show` prints them back.
      const v6 = `fd00:${a}::${b === 0 ? '' : b}/128`.replace(':::', '::');
      lines.push(`AllowedIPs = ${a}.${b}.0.0/16, ${v6}`);
      expected.push(`${a}.${b}.0.0/16`, v6);
    }
  }
  assert.equal(expected.length, 130_560);
  await wg(['setconf', name, await world.file('huge.conf', `${lines.join('\n')}\n`)]);

  const shown = (await wg(['show', name, 'allowed-ips'])).trim().split(/\s+/);
  assert.equal(shown[0], peer);
  assert.equal(shown.length, 130_560 + 1, 'the peer, then every allowed IP');
  assert.deepEqual(new Set(shown.slice(1)), new Set(expected));

  // The same configuration again replaces it: nothing doubles.
  await wg(['setconf', name, await world.file('huge.conf', `${lines.join('\n')}\n`)]);
  assert.equal((await wg(['show', name, 'allowed-ips'])).trim().split(/\s+/).length, 130_561);
});

test('40 peers x 52 allowed IPs: every peer reads back its own 52', { skip }, async () => {
  const name = await world.start('phantommesh', ns);
  const lines = ['[Interface]', `PrivateKey = ${randomKey()}`];
  const expected = new Map<string, string[]>();
  for (let a = 1; a <= 40; a++) {
    const key = randomKey();
    lines.push('[Peer]', `PublicKey = ${key}`);
    const ips: string[] = [];
    for (let b = 1; b <= 52; b++) {
      lines.push(`AllowedIPs = ${a}.${b}.0.0/16`);
      ips.push(`${a}.${b}.0.0/16`);
    }
    expected.set(key, ips);
  }
  await wg(['setconf', name, await world.file('forty.conf', `${lines.join('\n')}\n`)]);

  const rows = (await wg(['show', name, 'allowed-ips'])).trim().split('\n');
  assert.equal(rows.length, 40);
  for (const row of rows) {
    const [key, ...ips] = row.split(/\s+/);
    assert.equal(ips.length, 52, `peer ${key}`);
    assert.deepEqual(ips.sort(), [...expected.get(key!)!].sort());
  }
});

test('30 peers, only the last with allowed IPs: showconf reads them back', { skip }, async () => {
  const name = await world.start('phantommesh', ns);
  const lines: string[] = [];
  for (let i = 1; i <= 29; i++) lines.push('[Peer]', `PublicKey = ${randomKey()}`);
  const last = randomKey();
  lines.push('[Peer]', `PublicKey = ${last}`, 'AllowedIPs = 198.51.100.4/32, 2001:db8::255/128');
  await wg(['setconf', name, await world.file('thirty.conf', `${lines.join('\n')}\n`)]);
  const shown = await wg(['showconf', name]);
  assert.equal(shown.match(/^\[Peer\]$/gm)?.length, 30);
  assert.match(
    shown,
    new RegExp(
      `PublicKey = ${last.replace(/[+/]/g, '\\$&')}\nAllowedIPs = 198\\.51\\.100\\.4/32, 2001:db8::255/128`,
    ),
  );
});
