// Start at login: the XDG autostart entry on Linux (written in a temporary HOME) and the call to
// Electron's login-item API on macOS and Windows.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NotSupportedError } from '../../shared/src/errors.ts';
import {
  autostartPath,
  desktopEntry,
  EXECUTABLE_NAME,
  HIDDEN_ARG,
  setStartAtLogin,
  setXdgAutostart,
  type LoginItems,
} from '../../app/main/login-item.ts';

const home = mkdtempSync(join(tmpdir(), 'phantommesh-home-'));
after(() => rmSync(home, { recursive: true, force: true }));

test('the entry lives in $XDG_CONFIG_HOME/autostart, else ~/.config/autostart', () => {
  assert.equal(
    autostartPath({ HOME: '/home/ada' }),
    '/home/ada/.config/autostart/phantommesh-desktop.desktop',
  );
  assert.equal(
    autostartPath({ HOME: '/home/ada', XDG_CONFIG_HOME: '/cfg' }),
    '/cfg/autostart/phantommesh-desktop.desktop',
  );
  // The spec says a relative XDG_CONFIG_HOME is invalid and to be ignored.
  assert.equal(
    autostartPath({ HOME: '/home/ada', XDG_CONFIG_HOME: 'cfg' }),
    '/home/ada/.config/autostart/phantommesh-desktop.desktop',
  );
});

test('the desktop entry runs the app hidden, its Exec quoted per the spec', () => {
  // The packaged executable (electron-builder.yml linux.executableName), never the `phantommesh` CLI.
  assert.equal(EXECUTABLE_NAME, 'phantommesh-desktop');
  assert.equal(
    desktopEntry(['/opt/PhantomMesh/phantommesh-desktop', HIDDEN_ARG]),
    [
      '[Desktop Entry]',
      'Type=Application',
      'Name=PhantomMesh',
      'Comment=WireGuard VPN client',
      'Exec=/opt/PhantomMesh/phantommesh-desktop --hidden',
      'Icon=phantommesh-desktop',
      'Terminal=false',
      'X-GNOME-Autostart-enabled=true',
      '',
    ].join('\n'),
  );
  const exec = (command: string[]) => /^Exec=(.*)$/m.exec(desktopEntry(command))![1];
  assert.equal(exec(['/home/ada/My Apps/electron', '/src/app']), '"/home/ada/My Apps/electron" /src/app');
  // `"`, `$` and backquote are escaped inside quotes; a backslash twice (argument, then string value).
  assert.equal(exec(['/a"b$c`d']), '"/a\\\\"b\\\\$c\\\\`d"');
  assert.equal(exec(['/x\\y']), '"/x\\\\\\\\y"');
  // % starts a field code.
  assert.equal(exec(['/100%']), '/100%%');
  assert.throws(() => desktopEntry(['/a\nb']), /line break/);
});

test('Linux: turning it on writes the entry, turning it off removes it', async () => {
  const env = { HOME: home };
  const dir = join(home, '.config', 'autostart');
  const path = join(dir, 'phantommesh-desktop.desktop');
  // What a development build wrote before the executable had its own name goes away.
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'phantommesh.desktop'), '[Desktop Entry]\n');
  const unused: LoginItems = {
    setLoginItemSettings: () => assert.fail('Linux has no login-item API'),
  };
  await setStartAtLogin(true, {
    platform: 'linux',
    env,
    command: ['/opt/PhantomMesh/phantommesh-desktop'],
    loginItems: unused,
  });
  assert.match(readFileSync(path, 'utf8'), /^Exec=\/opt\/PhantomMesh\/phantommesh-desktop --hidden$/m);
  assert.equal(statSync(path).mode & 0o777, 0o644);
  // Written atomically: no temporary file is left beside it.
  assert.deepEqual(readdirSync(dir), ['phantommesh-desktop.desktop']);

  await setStartAtLogin(false, {
    platform: 'linux',
    env,
    command: ['/opt/PhantomMesh/phantommesh-desktop'],
    loginItems: unused,
  });
  assert.deepEqual(readdirSync(join(home, '.config', 'autostart')), []);
  // Off when already off is fine.
  await setXdgAutostart(false, env, ['/x']);
});

test("macOS: the login-item API (Electron's app mocked), with the hidden flag", async () => {
  const calls: unknown[] = [];
  const loginItems: LoginItems = { setLoginItemSettings: (settings) => calls.push(settings) };
  await setStartAtLogin(true, { platform: 'darwin', env: { HOME: home }, command: ['/x'], loginItems });
  await setStartAtLogin(false, { platform: 'darwin', env: { HOME: home }, command: ['/x'], loginItems });
  assert.deepEqual(calls, [
    { openAtLogin: true, args: [HIDDEN_ARG] },
    { openAtLogin: false, args: [HIDDEN_ARG] },
  ]);
});

test("Windows: the Run entry through the login-item API (Electron's app mocked): the full command, hidden", async () => {
  const calls: unknown[] = [];
  const loginItems: LoginItems = { setLoginItemSettings: (settings) => calls.push(settings) };
  const packaged = ['C:\\Program Files\\PhantomMesh\\PhantomMesh.exe'];
  await setStartAtLogin(true, { platform: 'win32', env: {}, command: packaged, loginItems });
  await setStartAtLogin(false, { platform: 'win32', env: {}, command: packaged, loginItems });
  // In development the executable is electron.exe and the app is its first argument.
  const development = ['C:\\src\\node_modules\\electron\\dist\\electron.exe', 'C:\\src'];
  await setStartAtLogin(true, { platform: 'win32', env: {}, command: development, loginItems });
  assert.deepEqual(calls, [
    { openAtLogin: true, path: packaged[0], args: [HIDDEN_ARG] },
    { openAtLogin: false, path: packaged[0], args: [HIDDEN_ARG] },
    { openAtLogin: true, path: development[0], args: ['C:\\src', HIDDEN_ARG] },
  ]);
  await assert.rejects(
    setStartAtLogin(true, { platform: 'win32', env: {}, command: [], loginItems }),
    /no command/,
  );
});

test('elsewhere: not supported, said so', async () => {
  await assert.rejects(
    setStartAtLogin(true, {
      platform: 'freebsd',
      env: { HOME: home },
      command: ['/x'],
      loginItems: { setLoginItemSettings: () => {} },
    }),
    NotSupportedError,
  );
});
