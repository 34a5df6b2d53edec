// `npm start` (scripts/start.ts): when it builds, when it can run Electron and the exact reason when
// it cannot, and the browser host it starts instead, printing its address.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { BUILD_OUTPUTS, buildNeeded, electronStatus, noDisplay } from '../../scripts/start.ts';

const START = new URL('../../scripts/start.ts', import.meta.url).pathname;
const repo = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'phantommesh-start-'));
after(() => rmSync(work, { recursive: true, force: true }));

function file(root: string, path: string, text = '', mtime?: number): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  if (mtime !== undefined) utimesSync(join(root, path), mtime, mtime);
}

test('Electron: the binary when downloaded, else why not, naming ELECTRON_SKIP_BINARY_DOWNLOAD only when set', () => {
  const root = join(work, 'electron');
  assert.match(
    (electronStatus(root, {}) as { reason: string }).reason,
    /the electron package is not installed/,
  );
  file(root, 'node_modules/electron/package.json', '{}');
  const absent = electronStatus(root, {});
  assert.equal(absent.binary, null);
  const reason = (absent as { reason: string }).reason;
  assert.match(reason, /Electron's binary is not downloaded: node_modules\/electron\/dist is missing/);
  assert.match(reason, /on a machine with internet run node node_modules\/electron\/install\.js/);
  assert.doesNotMatch(reason, /ELECTRON_SKIP_BINARY_DOWNLOAD/);
  assert.match(
    (electronStatus(root, { ELECTRON_SKIP_BINARY_DOWNLOAD: '1' }) as { reason: string }).reason,
    /ELECTRON_SKIP_BINARY_DOWNLOAD is set in this environment/,
  );
  file(root, 'node_modules/electron/path.txt', 'electron');
  assert.match(
    (electronStatus(root, {}) as { reason: string }).reason,
    /node_modules\/electron\/dist\/electron is missing \(an interrupted download\?\)/,
  );
  file(root, 'node_modules/electron/dist/electron', '#!/bin/sh\n');
  assert.deepEqual(electronStatus(root, {}), { binary: join(root, 'node_modules/electron/dist/electron') });
});

test('a display is DISPLAY or WAYLAND_DISPLAY', () => {
  assert.match(noDisplay({}) ?? '', /no display \(neither DISPLAY nor WAYLAND_DISPLAY is set\)/);
  assert.equal(noDisplay({ DISPLAY: ':99' }), null);
  assert.equal(noDisplay({ WAYLAND_DISPLAY: 'wayland-0' }), null);
});

test('it builds when an output is missing or a source is newer than the oldest output', () => {
  const root = join(work, 'build');
  const old = Date.now() / 1000 - 3600;
  file(root, 'app/main/index.ts', '', old);
  file(root, 'shared/src/ip.ts', '', old);
  file(root, 'package.json', '{}', old);
  assert.equal(buildNeeded(root), `${BUILD_OUTPUTS[0]} is missing`);
  for (const output of BUILD_OUTPUTS) file(root, output, '', old + 60);
  assert.equal(buildNeeded(root), null);
  // Documentation is no input of the build.
  file(root, 'app/README.md', '', old + 120);
  assert.equal(buildNeeded(root), null);
  file(root, 'app/main/index.ts', '', old + 120);
  assert.equal(buildNeeded(root), 'app changed since the last build');
});

test('without Electron or a display: it says why and starts the browser host, printing its URL', async () => {
  const env = { ...process.env };
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  const socket = join(work, 'helper.sock');
  const child = spawn(process.execPath, [START, '--no-build', '--port', '0', '--socket', socket], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL within 20 s:\n${output}`)), 20_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /PhantomMesh browser host: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.once('exit', (code) => reject(new Error(`start.ts ended (${code}):\n${output}`)));
    });
    const electron = electronStatus(repo);
    const why = electron.binary === null ? electron.reason : noDisplay(env)!;
    assert.ok(output.includes(`npm start: not running the Electron app: ${why}.`), output);
    // The host it started answers at that address and reaches for the socket it was given.
    const page = await fetch(url);
    assert.ok(page.status === 200 || page.status === 503, `the page answers (${page.status})`);
    await page.arrayBuffer();
    for (let waited = 0; !output.includes(`--socket ${socket}`); waited += 50) {
      assert.ok(waited < 5000, `the host names the socket it was given:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});
