// The preload as it ships: bundled by app/preload/vite.config.ts into one CommonJS file that requires
// nothing but 'electron', its isolated-world bridge run in Node, and its main-world half run in Debian's
// Chromium, where it must define exactly PhantomMeshApi with errors that keep code, line and key.
// Electron APIs mocked: no Electron binary here (contextBridge and ipcRenderer are stand-ins that
// record what the preload does; the page reaches the bridge through Playwright's exposeFunction).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { EVENT_CHANNEL, INVOKE_CHANNEL, type AppEvent } from '../../shared/src/ipc/schema.ts';
import type { PreloadBridge } from '../../app/preload/main-world.ts';

const CONFIG = new URL('../../app/preload/vite.config.ts', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';

let dir: string;
let bundle: string;
/** What the preload handed to contextBridge.executeInMainWorld. */
let executed: { func: (bridge: PreloadBridge) => void; args: [PreloadBridge] };
const invoked: Array<[string, unknown]> = [];
const subscribed = new Set<(event: unknown, appEvent: AppEvent) => void>();

/** The stand-in for require('electron') in a sandboxed preload. */
const electron = {
  contextBridge: {
    executeInMainWorld(script: typeof executed) {
      executed = script;
    },
  },
  ipcRenderer: {
    async invoke(channel: string, request: { method: string; params: unknown }) {
      invoked.push([channel, request]);
      if (request.method === 'tunnels.import')
        return {
          ok: false,
          error: {
            message: 'line 2: PrivateKey: not a key',
            code: 'CONFIG_INVALID',
            line: 2,
            key: 'PrivateKey',
          },
        };
      return { ok: true, result: { echo: request } };
    },
    on(channel: string, listener: (event: unknown, appEvent: AppEvent) => void) {
      assert.equal(channel, EVENT_CHANNEL);
      subscribed.add(listener);
    },
    removeListener(channel: string, listener: (event: unknown, appEvent: AppEvent) => void) {
      assert.equal(channel, EVENT_CHANNEL);
      subscribed.delete(listener);
    },
  },
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pm-preload-'));
  await build({ configFile: CONFIG, logLevel: 'silent', build: { outDir: dir } });
  bundle = await readFile(join(dir, 'preload.cjs'), 'utf8');
  const required: string[] = [];
  const run = new Function('exports', 'require', 'module', bundle) as (
    exports: object,
    require: (name: string) => unknown,
    module: object,
  ) => void;
  run(
    {},
    (name) => {
      required.push(name);
      if (name !== 'electron') throw new Error(`a sandboxed preload cannot require ${name}`);
      return electron;
    },
    { exports: {} },
  );
  assert.deepEqual(required, ['electron']);
});

after(() => rm(dir, { recursive: true, force: true }));

test('the bundle is one CommonJS script that requires only electron', () => {
  assert.doesNotMatch(bundle, /^\s*(import|export)\s/m);
  assert.deepEqual(
    [...bundle.matchAll(/require\(["']([^"']+)["']\)/g)].map((match) => match[1]),
    ['electron'],
  );
});

test('the isolated-world bridge: invoke on the invoke channel, events on the event channel', async () => {
  const [bridge] = executed.args;
  assert.deepEqual(Object.keys(bridge).sort(), ['invoke', 'onEvent']);
  const reply = await bridge.invoke('tunnels.list', {});
  assert.deepEqual(reply, { ok: true, result: { echo: { method: 'tunnels.list', params: {} } } });
  assert.deepEqual(invoked.at(-1), [INVOKE_CHANNEL, { method: 'tunnels.list', params: {} }]);

  const heard: AppEvent[] = [];
  const stop = bridge.onEvent((event) => heard.push(event));
  const event: AppEvent = { type: 'select-tunnel', name: 'office' };
  for (const listener of subscribed) listener({ sender: 'ipc' }, event);
  stop();
  assert.equal(subscribed.size, 0);
  // The page's listener gets the event only, never Electron's IpcRendererEvent.
  assert.deepEqual(heard, [event]);
});

test(
  'the main-world half in Chromium: PhantomMeshApi, read-only, errors keep code, line and key',
  { skip: !existsSync(CHROMIUM) && 'Debian chromium is not installed' },
  async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const [bridge] = executed.args;
      await page.exposeFunction('bridgeInvoke', (method: 'tunnels.list', params: Record<string, never>) =>
        bridge.invoke(method, params),
      );
      // executeInMainWorld serializes func and proxies its arguments into the page: here the page
      // gets the function's source and a bridge whose invoke goes back to the bundled one in Node.
      await page.evaluate(`(${executed.func.toString()})({
        invoke: (method, params) => window.bridgeInvoke(method, params),
        onEvent: (listener) => { window.pageListener = listener; return () => { window.pageListener = null; }; },
      })`);
      const result = await page.evaluate(async () => {
        type Api = {
          invoke(method: string, params: unknown): Promise<unknown>;
          onEvent(listener: (event: unknown) => void): () => void;
        };
        const page = globalThis as unknown as {
          phantommesh: Api;
          pageListener: ((event: unknown) => void) | null;
        };
        const api = page.phantommesh;
        const listed = await api.invoke('tunnels.list', {});
        let failure: unknown = null;
        try {
          await api.invoke('tunnels.import', { name: 'x', text: '[Interface]\nPrivateKey = nope\n' });
        } catch (error) {
          const { message, code, line, key } = error as Record<string, unknown>;
          failure = { isError: error instanceof Error, message, code, line, key };
        }
        const heard: unknown[] = [];
        const stop = api.onEvent((event) => heard.push(event));
        page.pageListener?.({ type: 'select-tunnel', name: 'office' });
        stop();
        const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'phantommesh')!;
        return {
          keys: Object.keys(api).sort(),
          frozen: Object.isFrozen(api),
          writable: descriptor.writable,
          configurable: descriptor.configurable,
          listed,
          failure,
          heard,
          unsubscribed: page.pageListener === null,
        };
      });
      assert.deepEqual(result, {
        keys: ['invoke', 'onEvent'],
        frozen: true,
        writable: false,
        configurable: false,
        listed: { echo: { method: 'tunnels.list', params: {} } },
        failure: {
          isError: true,
          message: 'line 2: PrivateKey: not a key',
          code: 'CONFIG_INVALID',
          line: 2,
          key: 'PrivateKey',
        },
        heard: [{ type: 'select-tunnel', name: 'office' }],
        unsubscribed: true,
      });
    } finally {
      await browser.close();
    }
  },
);
