// `phantommesh genkey | pubkey | genpsk` print exactly what `wg` prints, and each reads the other's keys.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exec, hasCommand } from '../lib/netns.ts';

const CLI = new URL('../../helper/src/cli/phantommesh.ts', import.meta.url).pathname;
const skip = hasCommand('wg') ? false : 'wg (wireguard-tools) is not installed';
const ours = (args: string[], input?: string) =>
  exec(process.execPath, [CLI, ...args], input ? { input } : {});
const KEY_LINE = /^[A-Za-z0-9+/]{43}=\n$/;

test('genkey: a clamped 32-byte key, one base64 line like wg genkey', { skip }, async () => {
  const key = await ours(['genkey']);
  assert.match(key, KEY_LINE);
  assert.match(await exec('wg', ['genkey']), KEY_LINE, 'the same shape as wg');
  const bytes = Buffer.from(key, 'base64');
  assert.equal(bytes[0]! & 7, 0);
  assert.equal(bytes[31]! & 0xc0, 0x40);
  assert.notEqual(await ours(['genkey']), key);
});

test('pubkey agrees with wg pubkey both ways', { skip }, async () => {
  const theirPrivate = await exec('wg', ['genkey']);
  assert.equal(await ours(['pubkey'], theirPrivate), await exec('wg', ['pubkey'], { input: theirPrivate }));
  const ourPrivate = await ours(['genkey']);
  assert.equal(await exec('wg', ['pubkey'], { input: ourPrivate }), await ours(['pubkey'], ourPrivate));
});

test('genpsk: 32 random bytes as one base64 line', { skip }, async () => {
  const psk = await ours(['genpsk']);
  assert.match(psk, KEY_LINE);
  assert.equal(Buffer.from(psk, 'base64').length, 32);
});

test('pubkey refuses what is not a key, with exit code 1', { skip }, async () => {
  const error = await ours(['pubkey'], 'not a key\n').then(
    () => assert.fail('should fail'),
    (e: Error) => e.message,
  );
  assert.match(error, /exit 1/);
  assert.match(error, /unable to decode private key/);
});
