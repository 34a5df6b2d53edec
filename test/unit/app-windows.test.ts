// The app's Windows pieces, on Linux (no Electron, no Windows call): the notification area's .ico
// icons (light and dark taskbar, 16 to 48 px), which file each OS's tray shows, what the app says when
// the helper's service is missing, stopped, disabled or starting (read from a MOCK of the SCM's
// answers), the group message, and the Windows Platform parts with MOCK native calls: the pipe check
// used for every connection, and a refusal when koffi could not load.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import {
  HELPER_SERVICE_DISPLAY_NAME,
  HELPER_SERVICE_NAME,
} from '../../shared/src/control/pipe-server-check.ts';
import { PhantomError } from '../../shared/src/errors.ts';
import { describeFailure } from '../../app/main/helper-link.ts';
import type { WindowsCalls } from '../../app/main/pipe-server-check_windows.ts';
import { trayIconFile } from '../../app/main/tray-icon-file.ts';
import {
  SERVICE_DISABLED,
  SERVICE_RUNNING,
  SERVICE_START_PENDING,
  SERVICE_STOPPED,
  WINDOWS_CONTROL_GROUP,
  windowsHelperHint,
  windowsPlatformParts,
  windowsUnauthorizedMessage,
  type HelperServiceState,
} from '../../app/main/windows-helper.ts';

const icons = new URL('../../resources/icons/', import.meta.url);
const STATES = ['disconnected', 'connecting', 'connected', 'error'] as const;
const AUTO_START = 2;

interface IcoImage {
  size: number;
  /** RGBA, top row first. */
  rgba: Buffer;
  /** The AND mask's bit for (x, y): set means transparent. */
  masked: (x: number, y: number) => boolean;
}

/** Reads an .ico of 32-bit DIB images as scripts/tray-icons.ts writes them. */
function readIco(file: URL): IcoImage[] {
  const ico = readFileSync(file);
  assert.equal(ico.readUInt16LE(0), 0);
  assert.equal(ico.readUInt16LE(2), 1, 'an icon, not a cursor');
  const images: IcoImage[] = [];
  for (let i = 0; i < ico.readUInt16LE(4); i++) {
    const entry = 6 + 16 * i;
    const size = ico.readUInt8(entry);
    assert.equal(ico.readUInt8(entry + 1), size);
    assert.equal(ico.readUInt16LE(entry + 6), 32);
    const length = ico.readUInt32LE(entry + 8);
    const body = ico.subarray(ico.readUInt32LE(entry + 12), ico.readUInt32LE(entry + 12) + length);
    assert.equal(body.readUInt32LE(0), 40, 'BITMAPINFOHEADER');
    assert.equal(body.readInt32LE(4), size);
    assert.equal(body.readInt32LE(8), size * 2, 'XOR image and AND mask');
    assert.equal(body.readUInt16LE(14), 32);
    const maskStride = Math.ceil(size / 32) * 4;
    assert.equal(length, 40 + size * size * 4 + maskStride * size);
    const rgba = Buffer.alloc(size * size * 4);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const from = 40 + ((size - 1 - y) * size + x) * 4; // bottom-up BGRA
        rgba.set([body[from + 2]!, body[from + 1]!, body[from]!, body[from + 3]!], (y * size + x) * 4);
      }
    const mask = body.subarray(40 + size * size * 4);
    images.push({
      size,
      rgba,
      masked: (x, y) => (mask[(size - 1 - y) * maskStride + (x >> 3)]! & (0x80 >> (x & 7))) !== 0,
    });
  }
  return images;
}

const pixel = (image: IcoImage, x: number, y: number) =>
  [...image.rgba.subarray((y * image.size + x) * 4, (y * image.size + x) * 4 + 4)] as number[];

test('every tray state has a dark- and a light-taskbar .ico of 16 to 48 px, alpha and mask agreeing', () => {
  for (const state of STATES)
    for (const taskbar of ['dark', 'light']) {
      const file = new URL(`tray-${state}-win-${taskbar}.ico`, icons);
      assert.ok(existsSync(file), `${file.pathname} is missing (npm run icons)`);
      const images = readIco(file);
      assert.deepEqual(
        images.map((image) => image.size),
        [16, 20, 24, 32, 40, 48],
      );
      for (const image of images) {
        let opaque = 0;
        for (let y = 0; y < image.size; y++)
          for (let x = 0; x < image.size; x++) {
            const alpha = pixel(image, x, y)[3]!;
            assert.equal(
              image.masked(x, y),
              alpha === 0,
              `${state}-${taskbar} ${image.size}px mask at ${x},${y}`,
            );
            if (alpha > 200) opaque++;
          }
        assert.ok(opaque > image.size, `${state}-${taskbar} ${image.size}px has hardly any shape`);
        // The corners are outside every shape.
        assert.equal(pixel(image, 0, 0)[3], 0);
      }
    }
});

test('the disconnected ring is light on a dark taskbar and dark on a light one; connected keeps its white dot', () => {
  const ringPixel = (taskbar: string) => {
    const image = readIco(new URL(`tray-disconnected-win-${taskbar}.ico`, icons)).find((i) => i.size === 48)!;
    // On the ring (radius 0.31..0.47 of the size), left of the centre.
    return pixel(image, Math.round(48 * (0.5 - 0.39)), 24);
  };
  const luminance = ([r, g, b]: number[]) => 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  const onDark = ringPixel('dark');
  const onLight = ringPixel('light');
  assert.equal(onDark[3], 255);
  assert.equal(onLight[3], 255);
  assert.ok(luminance(onDark) > 150, `ring on a dark taskbar: ${onDark}`);
  assert.ok(luminance(onLight) < 120, `ring on a light taskbar: ${onLight}`);
  const connected = readIco(new URL('tray-connected-win-light.ico', icons)).find((i) => i.size === 48)!;
  assert.deepEqual(pixel(connected, 24, 24), [255, 255, 255, 255]);
});

test('the tray file for each OS: PNG on Linux, template on macOS, the taskbar-matched .ico on Windows', () => {
  assert.equal(trayIconFile('connected', 'linux'), 'tray-connected.png');
  assert.equal(trayIconFile('connected', 'darwin'), 'tray-connectedTemplate.png');
  assert.equal(trayIconFile('connected', 'win32'), 'tray-connected-win-dark.ico');
  assert.equal(trayIconFile('error', 'win32', true), 'tray-error-win-light.ico');
  assert.equal(trayIconFile('error', 'win32', false), 'tray-error-win-dark.ico');
});

test("the service names are the installer's", () => {
  const nsh = readFileSync(new URL('../../installers/windows/installer.nsh', import.meta.url), 'utf8');
  assert.match(nsh, new RegExp(`^!define PM_SERVICE "${HELPER_SERVICE_NAME}"$`, 'm'));
  assert.match(nsh, new RegExp(`DisplayName= "${HELPER_SERVICE_DISPLAY_NAME}"`));
  assert.match(nsh, new RegExp(`^!define PM_GROUP "${WINDOWS_CONTROL_GROUP}"$`, 'm'));
});

test('the service hint (from a mock SCM answer): not installed, stopped, disabled, starting, running, unknown', () => {
  const running = (state: number, startType = AUTO_START): HelperServiceState => ({
    installed: true,
    state,
    startType,
  });
  assert.match(
    windowsHelperHint({ installed: false }),
    /^PhantomMesh's service is not installed: run the PhantomMesh installer again/,
  );
  const stopped = windowsHelperHint(running(SERVICE_STOPPED));
  assert.match(stopped, /^PhantomMesh's service is stopped: start it as an administrator/);
  assert.ok(stopped.includes('`sc start PhantomMeshHelper`'), stopped);
  assert.ok(stopped.includes('Services > PhantomMesh helper > Start'), stopped);
  const disabled = windowsHelperHint(running(SERVICE_STOPPED, SERVICE_DISABLED));
  assert.match(disabled, /is disabled/);
  assert.ok(disabled.includes('`sc config PhantomMeshHelper start= delayed-auto`'), disabled);
  assert.match(windowsHelperHint(running(SERVICE_START_PENDING)), /is starting/);
  assert.match(windowsHelperHint(running(SERVICE_RUNNING)), /running but does not answer.*Restart/);
  const unknown = windowsHelperHint(null);
  assert.ok(unknown.includes('`sc start PhantomMeshHelper`') && unknown.includes('installer again'), unknown);
});

test('not in the group: the net localgroup command with this user, not the Linux one', () => {
  const message = windowsUnauthorizedMessage('DESKTOP-1\\ada');
  assert.ok(message.includes('`net localgroup "PhantomMesh Users" "DESKTOP-1\\ada" /add`'), message);
  assert.doesNotMatch(message, /usermod|sudo/);
  const connection = describeFailure(new PhantomError('NOT_AUTHORIZED', 'access denied'), {
    canFix: false,
    unavailableHint: 'x',
    unauthorizedMessage: message,
  });
  assert.deepEqual(connection, { state: 'unauthorized', message, canFix: false });
});

/** MOCK native calls: the SCM's answers and the pipe check are given by the test. */
function mockCalls(service: () => HelperServiceState, opened: string[]): WindowsCalls {
  return {
    openVerifiedPipe: async (path) => {
      opened.push(path);
      return { mock: 'socket' } as unknown as Socket;
    },
    helperServiceState: service,
    taskbarIsLight: () => false,
  };
}

test('the Windows Platform parts with mock native calls: the hint follows the service, every connection is checked', async () => {
  let service: HelperServiceState = { installed: false };
  const opened: string[] = [];
  const parts = windowsPlatformParts(
    mockCalls(() => service, opened),
    'DESKTOP-1\\ada',
  );
  const context = { canFix: false, unavailableHint: () => parts.helperHint };
  const unavailable = new PhantomError(
    'HELPER_UNAVAILABLE',
    'nothing is listening on \\\\.\\pipe\\phantommesh',
  );
  assert.match(describeFailure(unavailable, context).message!, /not installed/);
  // Installed and started later (delayed auto-start): the next failure says so.
  service = { installed: true, state: SERVICE_START_PENDING, startType: AUTO_START };
  assert.match(describeFailure(unavailable, context).message!, /is starting/);
  service = { installed: true, state: SERVICE_STOPPED, startType: AUTO_START };
  assert.match(describeFailure(unavailable, context).message!, /sc start PhantomMeshHelper/);
  await parts.openHelper!('\\\\.\\pipe\\phantommesh');
  assert.deepEqual(opened, ['\\\\.\\pipe\\phantommesh']);
  assert.match(parts.unauthorizedMessage!, /DESKTOP-1\\ada/);
});

test('the Windows Platform parts without native calls (koffi did not load): the pipe is refused, unchecked', async () => {
  const parts = windowsPlatformParts(new Error('Cannot find module koffi'), 'ada');
  await assert.rejects(
    parts.openHelper!('\\\\.\\pipe\\phantommesh'),
    (error: unknown) =>
      error instanceof PhantomError &&
      error.code === 'HELPER_UNTRUSTED' &&
      /Cannot find module koffi/.test(error.message),
  );
  assert.match(parts.helperHint, /does not answer/);
});
