// What reaches the controller from the renderer: method names and params are checked against the IPC
// schema and every failure is a reply, never a throw; and (ipc.ts) only the app window's own page may
// call at all.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { IpcMainInvokeEvent, WebContents } from 'electron';
import { EVENT_CHANNEL, INVOKE_CHANNEL, type AppEvent } from '../../shared/src/ipc/schema.ts';
import { AppSettingsStore } from '../../app/main/app-settings.ts';
import { AppController } from '../../app/main/app-controller.ts';
import { HelperLink } from '../../app/main/helper-link.ts';
import { registerIpc, sendEvent } from '../../app/main/ipc.ts';
import { browserHostPlatform } from '../../app/web/browser-host-platform.ts';
import { PhantomError } from '../../shared/src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'phantommesh-ipc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function controller(): Promise<{ controller: AppController; logs: string[]; link: HelperLink }> {
  const socketPath = join(dir, 'no-helper.sock');
  const logs: string[] = [];
  const link = new HelperLink({ socketPath, client: 'test', canFix: false, unavailableHint: 'Start it.' });
  return {
    link,
    logs,
    controller: new AppController({
      link,
      settings: await AppSettingsStore.open(join(dir, 'settings.json'), () => {}),
      platform: browserHostPlatform({ downloadsDir: dir, socketPath, log: (line) => logs.push(line) }),
      version: '0.1.0',
      emit: () => {},
      log: () => {},
    }),
  };
}

function failureCode(reply: Awaited<ReturnType<AppController['invoke']>>): string | undefined {
  return reply.ok ? undefined : reply.error.code;
}

test('unknown methods are refused by name, whatever they are', async () => {
  const { controller: c } = await controller();
  for (const method of [
    'nope',
    '__proto__',
    'constructor',
    'hasOwnProperty',
    'diagnostics',
    'tunnels.export',
    42,
    null,
    undefined,
    { method: 'status' },
  ]) {
    const reply = await c.invoke(method, {});
    assert.equal(failureCode(reply), 'METHOD_NOT_FOUND', String(method));
  }
});

test('params must fit the schema exactly', async () => {
  const { controller: c } = await controller();
  const bad: Array<[string, unknown]> = [
    ['tunnels.list', undefined],
    ['tunnels.list', null],
    ['tunnels.list', { extra: 1 }],
    ['tunnels.get', {}],
    ['tunnels.get', { name: '../../etc/passwd' }],
    ['tunnels.get', { name: 'office', includePrivateKey: true }],
    ['tunnels.text', { name: 'office', includePrivateKey: true }],
    ['tunnels.import', { name: 'office', text: 'x'.repeat(256 * 1024 + 1) }],
    ['tunnels.rename', { name: 'office' }],
    ['logs.tail', { lines: 20_000 }],
    ['logs.tail', { lines: 1.5 }],
    ['helperSettings.set', { metricsPort: 80 }],
    ['app.openLink', { link: 'https://evil.example' }],
    ['app.settings.set', { theme: 'neon' }],
  ];
  for (const [method, params] of bad) {
    const reply = await c.invoke(method, params);
    assert.equal(failureCode(reply), 'INVALID_PARAMS', `${method} ${JSON.stringify(params)}`);
    assert.match(reply.ok ? '' : reply.error.message, new RegExp(`^${method.replace('.', '\\.')}: `));
  }
});

test('helper requests without a helper: a failure that says why', async () => {
  const { controller: c } = await controller();
  const reply = await c.invoke('tunnels.list', {});
  assert.equal(failureCode(reply), 'HELPER_UNAVAILABLE');
  // Never started, so still connecting.
  assert.match(reply.ok ? '' : reply.error.message, /Connecting to the PhantomMesh helper/);
});

test('the link says the helper is not running once it has tried', async (t) => {
  const { controller: c, link } = await controller();
  t.after(() => link.stop());
  const unavailable = new Promise((resolve) => link.onStatus((s) => s.state === 'unavailable' && resolve(s)));
  link.start();
  assert.deepEqual(await unavailable, {
    state: 'unavailable',
    message: 'Start it.',
    canFix: false,
  });
  const reply = await c.invoke('status', {});
  assert.deepEqual(reply, {
    ok: false,
    error: { code: 'HELPER_UNAVAILABLE', message: 'Start it.' },
  });
});

test('app requests work without the helper; platform refusals are replies', async () => {
  const { controller: c, logs } = await controller();
  const state = await c.invoke('app.state', {});
  assert.ok(state.ok);
  assert.equal(state.result.version, '0.1.0');
  assert.equal(state.result.helper.state, 'connecting');
  assert.deepEqual(await c.invoke('app.openLink', { link: 'help' }), { ok: true, result: {} });
  assert.match(logs.join('\n'), /would open https:\/\/phantommesh\.net\/help/);
  const open = await c.invoke('app.openConfigFile', {});
  assert.equal(failureCode(open), 'NOT_AVAILABLE');
  assert.match(open.ok ? '' : open.error.message, /not available in the browser host/);
  assert.equal(failureCode(await c.invoke('app.fixHelper', {})), 'NOT_SUPPORTED');
});

// ---------------------------------------------------------------------------------------------
// ipc.ts: the handler registered on ipcMain and the event sender. Electron APIs mocked: no Electron
// binary here. The mocks are plain objects with the fields ipc.ts reads.

type Handler = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<unknown>;

function fakeIpcMain() {
  const handlers = new Map<string, Handler>();
  return {
    handlers,
    handle: (channel: string, handler: Handler) => void handlers.set(channel, handler),
    removeHandler: (channel: string) => void handlers.delete(channel),
  };
}

function fakeContents() {
  const sent: Array<[string, unknown]> = [];
  let destroyed = false;
  const mainFrame = { url: 'app://phantommesh/index.html', parent: null };
  const contents = {
    mainFrame,
    send: (channel: string, payload: unknown) => void sent.push([channel, payload]),
    isDestroyed: () => destroyed,
    destroy: () => (destroyed = true),
  };
  return { contents: contents as unknown as WebContents, sent, destroy: contents.destroy, mainFrame };
}

function invokeEvent(
  sender: WebContents,
  frame: { url: string; parent: unknown } | null,
): IpcMainInvokeEvent {
  return { sender, senderFrame: frame } as unknown as IpcMainInvokeEvent;
}

test('ipc: only the top frame of the app window showing the app page may call (Electron APIs mocked: no Electron binary here)', async () => {
  const { controller: c } = await controller();
  const ipcMain = fakeIpcMain();
  const app = fakeContents();
  const other = fakeContents();
  let trusted: WebContents | null = app.contents;
  const unregister = registerIpc({ ipcMain, controller: c, trustedContents: () => trusted });
  const handler = ipcMain.handlers.get(INVOKE_CHANNEL)!;
  const request = { method: 'app.state', params: {} };

  const ok = (await handler(invokeEvent(app.contents, app.mainFrame), request)) as { ok: boolean };
  assert.equal(ok.ok, true);

  const refused = async (event: IpcMainInvokeEvent, why: RegExp) => {
    const reply = (await handler(event, request)) as {
      ok: boolean;
      error: { code: string; message: string };
    };
    assert.equal(reply.ok, false);
    assert.equal(reply.error.code, 'FORBIDDEN');
    assert.match(reply.error.message, why);
  };
  await refused(invokeEvent(other.contents, other.mainFrame), /not the app window/);
  await refused(
    invokeEvent(app.contents, { url: 'app://phantommesh/frame.html', parent: app.mainFrame }),
    /top frame/,
  );
  await refused(invokeEvent(app.contents, null), /top frame/);
  await refused(
    invokeEvent(app.contents, { url: 'https://evil.example/', parent: null }),
    /not the app page/,
  );
  await refused(invokeEvent(app.contents, { url: 'file:///etc/passwd', parent: null }), /not the app page/);
  await refused(
    invokeEvent(app.contents, { url: 'app://evil/index.html', parent: null }),
    /not the app page/,
  );
  trusted = null;
  await refused(invokeEvent(app.contents, app.mainFrame), /not the app window/);
  trusted = app.contents;

  unregister();
  assert.equal(ipcMain.handlers.size, 0);
});

test('ipc: the payload is { method, params }, checked by the controller (Electron APIs mocked: no Electron binary here)', async () => {
  const { controller: c } = await controller();
  const ipcMain = fakeIpcMain();
  const app = fakeContents();
  registerIpc({ ipcMain, controller: c, trustedContents: () => app.contents });
  const handler = ipcMain.handlers.get(INVOKE_CHANNEL)!;
  const call = (payload: unknown) =>
    handler(invokeEvent(app.contents, app.mainFrame), payload) as Promise<{
      ok: boolean;
      error?: { code: string };
    }>;
  for (const payload of [undefined, null, 'app.state', ['app.state', {}], 42])
    assert.equal((await call(payload)).error?.code, 'INVALID_REQUEST', String(payload));
  assert.equal((await call({ method: 'nope', params: {} })).error?.code, 'METHOD_NOT_FOUND');
  assert.equal((await call({ method: 'tunnels.get', params: { name: '..' } })).error?.code, 'INVALID_PARAMS');
  assert.equal((await call({ method: 'app.state' })).error?.code, 'INVALID_PARAMS');
  assert.equal((await call({ method: 'app.state', params: {} })).ok, true);
});

test('ipc: events go to the app window on the event channel, not to a destroyed one (Electron APIs mocked: no Electron binary here)', () => {
  const app = fakeContents();
  const event: AppEvent = { type: 'select-tunnel', name: 'office' };
  sendEvent(app.contents, event);
  sendEvent(null, event);
  app.destroy();
  sendEvent(app.contents, event);
  assert.deepEqual(app.sent, [[EVENT_CHANNEL, event]]);
});

// ---------------------------------------------------------------------------------------------
// app.exportTunnel: without secrets by default; a full backup only when asked, written as a secret;
// the helper's refusal (not root) comes back as a reply with its code, before any save dialog.

async function exporter(answer: (params: unknown) => Promise<{ text: string }>) {
  const calls: Array<[string, unknown]> = [];
  const saved: Array<{ name: string; text: string; secret: boolean }> = [];
  const link = {
    status: { state: 'connected', canFix: false },
    call: async (method: string, params: unknown) => {
      calls.push([method, params]);
      return answer(params);
    },
    onStatus: () => () => {},
    onEvent: () => () => {},
  } as unknown as HelperLink;
  const platform = {
    ...browserHostPlatform({ downloadsDir: dir, socketPath: join(dir, 'x.sock'), log: () => {} }),
    saveText: async (name: string, text: string, options?: { secret?: boolean }) => {
      saved.push({ name, text, secret: options?.secret ?? false });
      return join(dir, name);
    },
  };
  const c = new AppController({
    link,
    settings: await AppSettingsStore.open(join(dir, 'export-settings.json'), () => {}),
    platform,
    version: '0.1.0',
    emit: () => {},
    log: () => {},
  });
  return { c, calls, saved };
}

test('export: without the private key unless asked; a full backup is saved as a secret', async () => {
  const { c, calls, saved } = await exporter(async (params) => ({
    text: (params as { includePrivateKey: boolean }).includePrivateKey
      ? '[Interface]\nPrivateKey = k\n'
      : '[Interface]\n',
  }));
  assert.deepEqual(await c.invoke('app.exportTunnel', { name: 'office' }), {
    ok: true,
    result: { path: join(dir, 'office.conf') },
  });
  assert.deepEqual(await c.invoke('app.exportTunnel', { name: 'office', includePrivateKey: true }), {
    ok: true,
    result: { path: join(dir, 'office.conf') },
  });
  assert.deepEqual(calls, [
    ['tunnels.export', { name: 'office', includePrivateKey: false }],
    ['tunnels.export', { name: 'office', includePrivateKey: true }],
  ]);
  assert.deepEqual(saved, [
    { name: 'office.conf', text: '[Interface]\n', secret: false },
    { name: 'office.conf', text: '[Interface]\nPrivateKey = k\n', secret: true },
  ]);
  // Still strict: nothing else rides along.
  const extra = await c.invoke('app.exportTunnel', { name: 'office', includePrivateKey: 'yes' });
  assert.equal(failureCode(extra), 'INVALID_PARAMS');
  assert.equal(
    failureCode(await c.invoke('app.exportTunnel', { name: 'office', text: 'x' })),
    'INVALID_PARAMS',
  );
});

test('export: the helper refusing a full backup (not root) is a reply with its code; nothing saved', async () => {
  const { c, saved } = await exporter(async () => {
    throw new PhantomError(
      'NOT_AUTHORIZED',
      'only root may export a private key (run the command with sudo)',
    );
  });
  assert.deepEqual(await c.invoke('app.exportTunnel', { name: 'office', includePrivateKey: true }), {
    ok: false,
    error: {
      code: 'NOT_AUTHORIZED',
      message: 'only root may export a private key (run the command with sudo)',
    },
  });
  assert.deepEqual(saved, []);
});

test('a method that is not a string is refused, whatever it is (found by the fuzz campaign)', async () => {
  const { controller: c } = await controller();
  for (const method of [
    { toString: 0 },
    { valueOf: 0, toString: 0 },
    Symbol('x'),
    42n,
    null,
    undefined,
    [1],
  ]) {
    const reply = await c.invoke(method, {});
    assert.equal(failureCode(reply), 'METHOD_NOT_FOUND');
  }
});
