// The app's macOS pieces, on Linux: the menu bar's template icons (black, the shape in alpha, the
// inner mark cut out) beside each colour tray icon, and what the app says when the helper's
// LaunchDaemon is missing or not running.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { test } from 'node:test';
import { MACOS_HELPER_PLIST, macosHelperHint } from '../../app/main/macos-helper.ts';

const icons = new URL('../../resources/icons/', import.meta.url);

/** An RGBA PNG as written by scripts/tray-icons.ts (unfiltered scanlines), as pixels. */
function pixels(file: URL): { size: number; rgba: Buffer } {
  const png = readFileSync(file);
  const size = png.readUInt32BE(16);
  const idat = png.indexOf('IDAT');
  const rows = inflateSync(png.subarray(idat + 4, idat + 4 + png.readUInt32BE(idat - 4)));
  const rgba = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++)
    rows.copy(rgba, y * size * 4, y * (size * 4 + 1) + 1, (y + 1) * (size * 4 + 1));
  return { size, rgba };
}

test('every tray state has a template image pair: black, shaped by alpha', () => {
  for (const state of ['disconnected', 'connecting', 'connected', 'error'])
    for (const [suffix, expected] of [
      ['', 16],
      ['@2x', 32],
    ] as const) {
      const file = new URL(`tray-${state}Template${suffix}.png`, icons);
      assert.ok(existsSync(file), `${file.pathname} is missing (npm run icons)`);
      const { size, rgba } = pixels(file);
      assert.equal(size, expected);
      let opaque = 0;
      for (let i = 0; i < rgba.length; i += 4) {
        assert.deepEqual([rgba[i], rgba[i + 1], rgba[i + 2]], [0, 0, 0]);
        if (rgba[i + 3]! > 200) opaque++;
      }
      assert.ok(opaque > size, `${state}${suffix} has hardly any shape`);
    }
  // Connected's white dot is a hole in the disc: the centre is transparent.
  const { size, rgba } = pixels(new URL('tray-connectedTemplate@2x.png', icons));
  const centre = ((size / 2) * size + size / 2) * 4;
  assert.equal(rgba[centre + 3], 0);
});

test('the helper hint tells a missing LaunchDaemon from one that is not running', () => {
  assert.match(
    macosHelperHint(() => false),
    /not installed on this Mac.*PhantomMesh\.pkg/,
  );
  const running = macosHelperHint((path) => path === MACOS_HELPER_PLIST);
  assert.match(running, /installed but not running/);
  assert.match(running, /launchctl kickstart -k system\/net\.phantommesh\.helper/);
});
