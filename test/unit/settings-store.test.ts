// The helper's settings.json: defaults, updates, validation and what a corrupt file becomes.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PhantomError } from '../../shared/src/errors.ts';
import { DEFAULT_SETTINGS, SettingsStore } from '../../helper/src/service/settings-store.ts';

const root = mkdtempSync(join(tmpdir(), 'phantommesh-settings-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${++dirs}`);

async function opened(dir: string): Promise<{ store: SettingsStore; lines: string[] }> {
  const lines: string[] = [];
  const store = await SettingsStore.open(dir, { log: (line) => lines.push(line) });
  return { store, lines };
}

test('without a file the defaults apply and nothing is written or logged', async () => {
  const dir = freshDir();
  const { store, lines } = await opened(dir);
  assert.deepEqual(store.get(), {
    killSwitch: false,
    allowLan: false,
    lockdown: false,
    autoConnect: null,
    metricsPort: null,
  });
  assert.deepEqual(store.get(), DEFAULT_SETTINGS);
  assert.deepEqual(readdirSync(dir), []);
  assert.deepEqual(lines, []);
});

test('updates are written as JSON, 0600, and read back by the next open', async () => {
  const dir = freshDir();
  const { store } = await opened(dir);
  const result = await store.update({ killSwitch: true, autoConnect: 'wg0' });
  assert.deepEqual(result, {
    killSwitch: true,
    allowLan: false,
    lockdown: false,
    autoConnect: 'wg0',
    metricsPort: null,
  });
  await store.update({ metricsPort: 9586 });
  const path = join(dir, 'settings.json');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), {
    killSwitch: true,
    allowLan: false,
    lockdown: false,
    autoConnect: 'wg0',
    metricsPort: 9586,
  });
  assert.deepEqual((await opened(dir)).store.get(), store.get());
});

test('get() returns a copy', async () => {
  const { store } = await opened(freshDir());
  const copy = store.get();
  copy.killSwitch = true;
  assert.equal(store.get().killSwitch, false);
});

test('invalid values are refused and change nothing', async () => {
  const dir = freshDir();
  const { store } = await opened(dir);
  await store.update({ allowLan: false });
  const bad: Record<string, unknown>[] = [
    { killSwitch: 'yes' },
    { allowLan: null },
    { autoConnect: '../x' },
    { autoConnect: 'x'.repeat(16) },
    { metricsPort: 0 },
    { metricsPort: 70000 },
    { metricsPort: 9586.5 },
  ];
  for (const changes of bad) {
    await assert.rejects(store.update(changes), (error: unknown) => {
      assert.ok(error instanceof PhantomError);
      assert.equal(error.code, 'SETTINGS_INVALID', JSON.stringify(changes));
      return true;
    });
  }
  assert.equal(store.get().allowLan, false);
  assert.equal(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')).allowLan, false);
});

test('concurrent updates all apply, and the file ends with the last one', async () => {
  const dir = freshDir();
  const { store } = await opened(dir);
  await Promise.all([
    store.update({ killSwitch: true }),
    store.update({ metricsPort: 2000 }),
    store.update({ metricsPort: 3000 }),
    store.update({ allowLan: false }),
  ]);
  const expected = {
    killSwitch: true,
    allowLan: false,
    lockdown: false,
    autoConnect: null,
    metricsPort: 3000,
  };
  assert.deepEqual(store.get(), expected);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')), expected);
});

test('a file from an older version gets defaults for the keys it lacks; unknown keys are dropped', async () => {
  const dir = freshDir();
  mkdirSync(dir);
  writeFileSync(join(dir, 'settings.json'), JSON.stringify({ killSwitch: true, fromTheFuture: 1 }));
  const { store, lines } = await opened(dir);
  assert.deepEqual(store.get(), { ...DEFAULT_SETTINGS, killSwitch: true });
  assert.deepEqual(lines, []);
});

for (const [what, content] of [
  ['truncated JSON', '{"killSwitch": tr'],
  ['a JSON array', '[]'],
  ['a wrong type', '{"killSwitch": "on"}'],
  ['an empty file', ''],
]) {
  test(`a corrupt settings file (${what}) is kept aside and the defaults are used`, async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'settings.json'), content!);
    const { store, lines } = await opened(dir);
    assert.deepEqual(store.get(), DEFAULT_SETTINGS);
    const names = readdirSync(dir);
    assert.equal(names.length, 1);
    assert.match(names[0]!, /^settings\.json\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/);
    assert.equal(readFileSync(join(dir, names[0]!), 'utf8'), content);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /is unusable .*kept as .*settings\.json\.corrupt-.*using the default settings/);
    await store.update({ killSwitch: true });
    assert.equal(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')).killSwitch, true);
  });
}

test('an unreadable settings path is logged, not fatal', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'settings.json'), { recursive: true });
  const { store, lines } = await opened(dir);
  assert.deepEqual(store.get(), DEFAULT_SETTINGS);
  assert.match(lines.join('\n'), /cannot read .*settings\.json.*using the default settings/);
});
