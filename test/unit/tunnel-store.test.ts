// The helper's tunnel store and the atomic writes under it, on the real file system in temp dirs.

import { skipOutsideCi } from '../lib/netns.ts';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PhantomError } from '../../shared/src/errors.ts';
import { isAtomicTemp, writeFileAtomic } from '../../shared/src/atomic-file.ts';
import { checkTunnelName, isTunnelName, TunnelStore } from '../../helper/src/service/tunnel-store.ts';

const root = mkdtempSync(join(tmpdir(), 'phantommesh-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${++dirs}`);
const mode = (path: string) => statSync(path).mode & 0o7777;
const isRoot = process.geteuid!() === 0;

async function errorOf(promise: Promise<unknown> | (() => unknown)): Promise<PhantomError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    assert.ok(error instanceof PhantomError, `not a PhantomError: ${String(error)}`);
    return error;
  }
  throw new Error('did not fail');
}

const CONF = '[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n';

test('writeFileAtomic writes the content with mode 0600 even under a permissive umask', async () => {
  const dir = freshDir();
  mkdirSync(dir);
  const path = join(dir, 'file');
  const umask = process.umask(0);
  try {
    await writeFileAtomic(path, 'one');
  } finally {
    process.umask(umask);
  }
  assert.equal(readFileSync(path, 'utf8'), 'one');
  assert.equal(mode(path), 0o600);
  await writeFileAtomic(path, 'two', { mode: 0o640 });
  assert.equal(readFileSync(path, 'utf8'), 'two');
  assert.equal(mode(path), 0o640);
  assert.deepEqual(readdirSync(dir), ['file']);
});

test('a failed rename leaves the target as it was and no temporary file', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'target'), { recursive: true });
  writeFileSync(join(dir, 'target', 'inside'), 'old');
  const error = await errorOf(writeFileAtomic(join(dir, 'target'), 'new'));
  assert.equal(error.code, 'FILE_WRITE_FAILED');
  assert.match(error.message, /target/);
  assert.equal(readFileSync(join(dir, 'target', 'inside'), 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir), ['target']);
});

test(
  'a full disk during the write leaves the old content and no temporary file',
  { skip: skipOutsideCi(!isRoot && 'needs root (mounts a small tmpfs)') },
  async () => {
    const dir = freshDir();
    mkdirSync(dir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    try {
      const path = join(dir, 'wg0.conf');
      await writeFileAtomic(path, 'old');
      const error = await errorOf(writeFileAtomic(path, Buffer.alloc(1 << 20, 'x')));
      assert.equal(error.code, 'FILE_WRITE_FAILED');
      assert.match(error.message, /ENOSPC|no space/i);
      assert.equal(readFileSync(path, 'utf8'), 'old');
      assert.deepEqual(readdirSync(dir), ['wg0.conf']);
    } finally {
      execFileSync('umount', [dir]);
    }
  },
);

// A writer killed at random points, mid-write included: every time, the file holds one of the two
// complete versions. A plain writeFile() fails this within a few rounds (a truncated file).
test('a writer killed at any point leaves the old or the new content, never a mix', async () => {
  const dir = freshDir();
  mkdirSync(dir);
  const path = join(dir, 'big.conf');
  const size = 4 << 20;
  const versions = ['a', 'b'].map((fill) => Buffer.alloc(size, fill));
  writeFileSync(path, versions[0]!);
  const moduleUrl = new URL('../../shared/src/atomic-file.ts', import.meta.url).href;
  const child = `
    const { writeFileAtomic } = await import(${JSON.stringify(moduleUrl)});
    const versions = ['a', 'b'].map((fill) => Buffer.alloc(${size}, fill));
    process.stdout.write('go\\n');
    for (let i = 1; ; i++) await writeFileAtomic(${JSON.stringify(path)}, versions[i % 2]);
  `;
  let changed = 0;
  let previous = 'a';
  for (let round = 0; round < 12; round++) {
    const writer = spawn(process.execPath, ['--input-type=module', '-e', child], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(writer.stdout, 'data');
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 60));
    writer.kill('SIGKILL');
    await once(writer, 'exit');
    const content = readFileSync(path);
    assert.equal(content.length, size, `round ${round}: ${content.length} bytes`);
    const fill = String.fromCharCode(content[0]!);
    assert.ok(content.equals(fill === 'a' ? versions[0]! : versions[1]!), `round ${round}: mixed content`);
    if (fill !== previous) changed++;
    previous = fill;
  }
  assert.ok(changed > 0, 'the writer never completed a write');
  // What the kills left behind is recognisable, so the store can remove it.
  for (const name of readdirSync(dir)) assert.ok(name === 'big.conf' || isAtomicTemp(name), name);
});

test('tunnel names follow wg-quick: 1-15 of [a-zA-Z0-9_=+.-], not "." or "..", no leading "-"', async () => {
  for (const good of ['wg0', 'a', 'x'.repeat(15), 'my_vpn=+.-', '...', '.hidden'])
    assert.ok(isTunnelName(good), good);
  for (const bad of [
    '',
    '.',
    '..',
    '../x',
    'a/b',
    'x'.repeat(16),
    'wg 0',
    'wg0\n',
    'é',
    'a\0b',
    '/etc/passwd',
    '-ieth0',
    '-',
  ])
    assert.ok(!isTunnelName(bad), JSON.stringify(bad));
  const error = await errorOf(() => checkTunnelName('../x'));
  assert.equal(error.code, 'TUNNEL_NAME_INVALID');
  assert.match(error.message, /"\.\.\/x" is not a valid tunnel name/);
});

test('the store creates its directory 0700 and keeps each tunnel in NAME.conf, 0600', async () => {
  const dir = join(freshDir(), 'tunnels');
  const store = await TunnelStore.open(dir);
  assert.equal(mode(dir), 0o700);
  assert.deepEqual(await store.list(), []);
  await store.write('wg1', CONF);
  await store.write('home', 'first');
  await store.write('home', 'second');
  assert.deepEqual(await store.list(), ['home', 'wg1']);
  assert.equal(await store.read('wg1'), CONF);
  assert.equal(await store.read('home'), 'second');
  assert.equal(readFileSync(join(dir, 'wg1.conf'), 'utf8'), CONF);
  assert.equal(mode(join(dir, 'wg1.conf')), 0o600);
  if (isRoot) {
    const info = statSync(join(dir, 'wg1.conf'));
    assert.deepEqual([info.uid, info.gid], [0, 0]);
  }
  assert.equal(await store.exists('wg1'), true);
  assert.equal(await store.exists('wg2'), false);
  assert.deepEqual(readdirSync(dir).sort(), ['home.conf', 'wg1.conf']);
});

test('every operation refuses names that could leave the store directory', async () => {
  const dir = freshDir();
  const store = await TunnelStore.open(dir);
  writeFileSync(join(root, 'x.conf'), 'outside');
  const attempts: (() => Promise<unknown>)[] = [
    () => store.read('../x'),
    () => store.write('a/b', CONF),
    () => store.write('', CONF),
    () => store.write('x'.repeat(16), CONF),
    () => store.exists('..'),
    () => store.rename('wg0', '../x'),
    () => store.rename('../x', 'wg0'),
    () => store.delete('../x'),
  ];
  for (const attempt of attempts) assert.equal((await errorOf(attempt)).code, 'TUNNEL_NAME_INVALID');
  assert.equal(readFileSync(join(root, 'x.conf'), 'utf8'), 'outside');
  assert.deepEqual(readdirSync(dir), []);
});

test('read, rename and delete report a missing tunnel; rename never replaces one', async () => {
  const store = await TunnelStore.open(freshDir());
  assert.equal((await errorOf(store.read('nope'))).code, 'TUNNEL_NOT_FOUND');
  assert.equal((await errorOf(store.delete('nope'))).code, 'TUNNEL_NOT_FOUND');
  assert.equal((await errorOf(store.rename('nope', 'other'))).code, 'TUNNEL_NOT_FOUND');

  await store.write('a', 'A');
  await store.write('b', 'B');
  const exists = await errorOf(store.rename('a', 'b'));
  assert.equal(exists.code, 'TUNNEL_EXISTS');
  assert.match(exists.message, /a tunnel named b already exists/);
  assert.equal(await store.read('a'), 'A');
  assert.equal(await store.read('b'), 'B');

  await store.rename('a', 'c');
  assert.deepEqual(await store.list(), ['b', 'c']);
  assert.equal(await store.read('c'), 'A');
  assert.equal(await store.exists('a'), false);

  await store.delete('b');
  assert.deepEqual(await store.list(), ['c']);
  assert.equal((await errorOf(store.read('b'))).code, 'TUNNEL_NOT_FOUND');
});

test('the store does not follow a symbolic link named like a tunnel', async () => {
  const dir = freshDir();
  const store = await TunnelStore.open(dir);
  writeFileSync(join(root, 'secret'), 'not a tunnel');
  symlinkSync(join(root, 'secret'), join(dir, 'evil.conf'));
  assert.equal((await errorOf(store.read('evil'))).code, 'TUNNEL_NOT_FOUND');
  assert.equal(await store.exists('evil'), false);
  assert.deepEqual(await store.list(), []);
});

test('a store directory that others may write is refused', async () => {
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o777);
  const error = await errorOf(TunnelStore.open(dir));
  assert.equal(error.code, 'TUNNEL_STORE_INSECURE');
  assert.match(error.message, /may write it \(mode 0777\)/);
  chmodSync(dir, 0o770);
  assert.equal((await errorOf(TunnelStore.open(dir))).code, 'TUNNEL_STORE_INSECURE');
  assert.equal(mode(dir), 0o770, 'a refused directory is left alone');
});

test(
  'a store directory owned by someone else, or a symbolic link, is refused',
  { skip: skipOutsideCi(!isRoot && 'needs root (chown)') },
  async () => {
    const dir = freshDir();
    mkdirSync(dir, { mode: 0o700 });
    execFileSync('chown', ['65534', dir]);
    const error = await errorOf(TunnelStore.open(dir));
    assert.equal(error.code, 'TUNNEL_STORE_INSECURE');
    assert.match(error.message, /owned by uid 65534, not root/);

    const real = freshDir();
    mkdirSync(real, { mode: 0o700 });
    const linked = freshDir();
    symlinkSync(real, linked);
    assert.match((await errorOf(TunnelStore.open(linked))).message, /not a directory/);
  },
);

test('opening repairs loose modes and removes what an interrupted write left', async () => {
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'loose.conf'), 'L', { mode: 0o644 });
  writeFileSync(join(dir, 'tight.conf'), 'T', { mode: 0o600 });
  writeFileSync(join(dir, '.tight.conf.0123456789ab.tmp'), 'partial');
  writeFileSync(join(dir, 'notes.txt'), 'kept', { mode: 0o644 });
  const lines: string[] = [];
  const store = await TunnelStore.open(dir, { log: (line) => lines.push(line) });
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(join(dir, 'loose.conf')), 0o600);
  assert.equal(mode(join(dir, 'notes.txt')), 0o644, 'files that are not tunnels are not touched');
  assert.deepEqual(readdirSync(dir).sort(), ['loose.conf', 'notes.txt', 'tight.conf']);
  assert.deepEqual(await store.list(), ['loose', 'tight']);
  assert.ok(
    lines.some((line) => /narrowed to 0700/.test(line)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((line) => /loose\.conf had mode 0644; set to 0600/.test(line)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((line) => /removed \.tight\.conf\.0123456789ab\.tmp/.test(line)),
    lines.join('\n'),
  );
  assert.ok(!lines.some((line) => /tight\.conf had/.test(line)), lines.join('\n'));
});

test('on Windows (process.platform mocked: no Windows here) the store opens, writes and reads without owners or modes', async () => {
  const real = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { value: 'win32' });
  try {
    const dir = freshDir();
    const store = await TunnelStore.open(dir);
    await store.write('office', '[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n');
    assert.deepEqual(await store.list(), ['office']);
    assert.match(await store.read('office'), /PrivateKey/);
    // What an interrupted write left is removed when the store opens again.
    writeFileSync(join(dir, '.office.conf.0123456789ab.tmp'), 'half');
    await TunnelStore.open(dir);
    assert.deepEqual(readdirSync(dir), ['office.conf']);
  } finally {
    Object.defineProperty(process, 'platform', real);
  }
});
