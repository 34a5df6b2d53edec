// The app's per-user settings: defaults, what a corrupt or older file becomes, atomic saves, and
// app.settings.set through the controller (login item first, then saved, then announced).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AppEvent } from '../../shared/src/ipc/schema.ts';
import { AppSettingsStore, DEFAULT_APP_SETTINGS, loadAppSettings } from '../../app/main/app-settings.ts';
import { AppController } from '../../app/main/app-controller.ts';
import { HelperLink } from '../../app/main/helper-link.ts';
import { browserHostPlatform } from '../../app/web/browser-host-platform.ts';

const root = mkdtempSync(join(tmpdir(), 'phantommesh-app-settings-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => {
  const dir = join(root, `d${++dirs}`);
  mkdirSync(dir);
  return dir;
};

test('no file: the defaults, and nothing written', async () => {
  const dir = freshDir();
  const lines: string[] = [];
  const store = await AppSettingsStore.open(join(dir, 'settings.json'), (line) => lines.push(line));
  assert.deepEqual(store.get(), {
    startAtLogin: false,
    connectOnLaunch: null,
    closeToTray: true,
    theme: 'system',
  });
  assert.deepEqual(store.get(), DEFAULT_APP_SETTINGS);
  assert.deepEqual(readdirSync(dir), []);
  assert.deepEqual(lines, []);
});

test('a corrupt file means the defaults, and says why', async () => {
  const dir = freshDir();
  const path = join(dir, 'settings.json');
  for (const text of ['{ not json', '[1, 2]', '"dark"', '{"theme": "neon"}', '{"connectOnLaunch": "../x"}']) {
    writeFileSync(path, text);
    const { settings, problem } = await loadAppSettings(path);
    assert.deepEqual(settings, DEFAULT_APP_SETTINGS, text);
    assert.match(problem ?? '', /using the defaults/, text);
  }
  const lines: string[] = [];
  await AppSettingsStore.open(path, (line) => lines.push(line));
  assert.equal(lines.length, 1);
});

test('a file from an older version keeps its settings and gets defaults for the new ones', async () => {
  const dir = freshDir();
  const path = join(dir, 'settings.json');
  writeFileSync(path, JSON.stringify({ theme: 'dark', closeToTray: false }));
  assert.deepEqual((await loadAppSettings(path)).settings, {
    ...DEFAULT_APP_SETTINGS,
    theme: 'dark',
    closeToTray: false,
  });
});

test('updates are saved atomically, 0600, and concurrent ones all survive', async () => {
  const dir = freshDir();
  const path = join(dir, 'nested', 'settings.json');
  const store = await AppSettingsStore.open(path, () => {});
  const results = await Promise.all([
    store.update({ theme: 'light' }),
    store.update({ connectOnLaunch: 'office' }),
    store.update({ closeToTray: false }),
  ]);
  const final = { startAtLogin: false, connectOnLaunch: 'office', closeToTray: false, theme: 'light' };
  assert.deepEqual(results[2], final);
  assert.deepEqual(store.get(), final);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), final);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(dir, 'nested')), ['settings.json']);
  // What was saved is what the next start reads.
  assert.deepEqual((await AppSettingsStore.open(path, () => {})).get(), final);
});

test('a failed save changes nothing and does not block the next one', async () => {
  const dir = freshDir();
  const path = join(dir, 'settings.json');
  const store = await AppSettingsStore.open(path, () => {});
  // A directory where the file goes: the rename onto it fails.
  mkdirSync(path);
  await assert.rejects(store.update({ theme: 'dark' }));
  assert.deepEqual(store.get(), DEFAULT_APP_SETTINGS);
  assert.deepEqual(readdirSync(dir), ['settings.json']);
  rmSync(path, { recursive: true });
  await store.update({ closeToTray: false });
  assert.deepEqual(store.get(), { ...DEFAULT_APP_SETTINGS, closeToTray: false });
});

test('app.settings.set through the controller: validated, saved, announced', async () => {
  const dir = freshDir();
  const events: AppEvent[] = [];
  const logs: string[] = [];
  const settings = await AppSettingsStore.open(join(dir, 'settings.json'), () => {});
  const controller = new AppController({
    // Never started: these requests do not need the helper.
    link: new HelperLink({
      socketPath: join(dir, 'none.sock'),
      client: 'test',
      canFix: false,
      unavailableHint: '',
    }),
    settings,
    platform: browserHostPlatform({
      downloadsDir: dir,
      socketPath: join(dir, 'none.sock'),
      log: (l) => logs.push(l),
    }),
    version: '0.1.0',
    emit: (event) => events.push(event),
    log: () => {},
  });
  const reply = await controller.invoke('app.settings.set', { theme: 'dark', startAtLogin: true });
  const expected = { ...DEFAULT_APP_SETTINGS, theme: 'dark', startAtLogin: true };
  assert.deepEqual(reply, { ok: true, result: expected });
  assert.deepEqual(events, [{ type: 'app-settings', settings: expected }]);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')), expected);

  const bad = await controller.invoke('app.settings.set', { theme: 'neon' });
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.error.code, 'INVALID_PARAMS');
  const unknownKey = await controller.invoke('app.settings.set', { colour: 'red' });
  assert.equal(!unknownKey.ok && unknownKey.error.code, 'INVALID_PARAMS');
  assert.equal(events.length, 1);

  const state = await controller.invoke('app.state', {});
  assert.ok(state.ok);
  assert.deepEqual(state.ok && state.result.settings, expected);
});
