// The packaged-app path: the real Electron binary running app/main with the real preload and
// renderer. It runs where Electron's binary has been downloaded (the electron package fetches it on
// first use, which needs the internet: node node_modules/electron/install.js) and a display exists
// (a desktop, or xvfb-run as in .github/workflows/desktop.yml). Elsewhere it is skipped with the
// true reason, and the renderer is tested in Chromium instead (app.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { _electron as electron } from 'playwright-core';
import { BUILD_OUTPUTS, electronStatus, noDisplay } from '../scripts/start.ts';

const REPO = new URL('..', import.meta.url).pathname;

function whySkip(): string | false {
  const status = electronStatus(REPO);
  if (status.binary === null) return status.reason;
  const unbuilt = BUILD_OUTPUTS.filter((file) => !existsSync(join(REPO, file)));
  if (unbuilt.length > 0) return `the app is not built (npm run build): ${unbuilt.join(', ')} missing`;
  return noDisplay() ?? false;
}

const skip = whySkip();
if (skip) console.log(`# skipping the Electron test: ${skip}`);

// Where Electron is meant to run (.github/workflows/desktop.yml), not running it is a failure.
if (skip && process.env.PHANTOMMESH_ELECTRON_REQUIRED)
  test('Electron can run here (PHANTOMMESH_ELECTRON_REQUIRED is set)', () => assert.fail(skip));

test('Electron: the window opens sandboxed, with the preload API and the app UI', { skip }, async () => {
  const binary = (electronStatus(REPO) as { binary: string }).binary;
  // Its own settings and a socket where no helper is: the app shows that the helper is missing.
  const home = mkdtempSync(join(tmpdir(), 'phantommesh-electron-'));
  const app = await electron.launch({
    executablePath: binary,
    // The repository is the app (package.json "main"), as in `npm start`.
    args: [REPO, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      PHANTOMMESH_HELPER_SOCKET: join(home, 'helper.sock'),
    },
  });
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
    await window.getByRole('heading', { name: 'PhantomMesh helper is not running' }).waitFor();
  } finally {
    await app.close();
    rmSync(home, { recursive: true, force: true });
  }
});
