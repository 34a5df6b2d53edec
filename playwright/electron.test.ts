// The packaged-app path: the real Electron binary running app/main with the real preload and
// renderer. It needs the Electron binary, which cannot be downloaded on this project's CI machines
// (ELECTRON_SKIP_BINARY_DOWNLOAD); where it exists (a developer's desktop), this test runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { _electron as electron } from 'playwright-core';

const ELECTRON_DIR = new URL('../node_modules/electron/', import.meta.url).pathname;
const MAIN = new URL('../dist/app/app/main/index.js', import.meta.url).pathname;

/** The binary electron's own package would run (its path.txt is written when the download worked). */
function electronBinary(): string | null {
  const pathFile = join(ELECTRON_DIR, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const binary = join(ELECTRON_DIR, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : null;
}

const binary = electronBinary();
const skip = !binary
  ? 'no Electron binary here (installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1; the renderer is tested in Chromium instead)'
  : !existsSync(MAIN)
    ? 'the app is not built (npm run build)'
    : false;
if (skip) console.log(`# skipping the Electron test: ${skip}`);

test('Electron: the window opens sandboxed, with the preload API and the app UI', { skip }, async () => {
  const app = await electron.launch({ executablePath: binary!, args: [MAIN] });
  try {
    const window = await app.firstWindow();
    assert.equal(await window.title(), 'PhantomMesh');
    assert.equal(
      await window.evaluate(() => typeof (globalThis as { require?: unknown }).require),
      'undefined',
    );
    assert.equal(
      await window.evaluate(
        () => typeof (globalThis as { phantommesh?: { invoke?: unknown } }).phantommesh?.invoke,
      ),
      'function',
    );
    await window.getByRole('tab', { name: 'Tunnels' }).waitFor();
  } finally {
    await app.close();
  }
});
