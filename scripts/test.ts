// `npm test`: the whole suite (unit, interop in network namespaces, the renderer in Chromium, the
// helper package in a booted systemd). Most of it needs root, so a run as an ordinary user re-runs
// itself with sudo, as the demo does; without sudo it runs as it is and the root-only tests say why
// they skip (under CI=true they fail instead). `npm run build` has run before this (pretest).

import { spawnSync } from 'node:child_process';
import { lchownSync, lstatSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const uid = process.getuid?.();

function hasSudo(): boolean {
  return spawnSync('sudo', ['--version'], { stdio: 'ignore' }).status === 0;
}

if (uid !== 0 && hasSudo() && process.env.PHANTOMMESH_TEST_NO_SUDO === undefined) {
  console.log('npm test: the interop and package tests need root; re-running with sudo.');
  const result = spawnSync(
    'sudo',
    [
      '--preserve-env=CI,LOG_LEVEL,DISPLAY',
      '--',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}

const result = spawnSync(
  process.execPath,
  [
    '--test',
    // Four files at a time on two cores: the namespace, package and browser tests mostly wait (on
    // handshakes, timers, a booting container), so two at a time left the cores half idle.
    '--test-concurrency=4',
    'test/**/*.test.ts',
    'playwright/**/*.test.ts',
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', cwd: root },
);

// Run through sudo, what the tests wrote in the checkout goes back to the user who ran npm test.
const sudoUid = Number(process.env.SUDO_UID);
const sudoGid = Number(process.env.SUDO_GID);
if (uid === 0 && Number.isInteger(sudoUid) && sudoUid > 0 && Number.isInteger(sudoGid)) {
  for (const dir of ['test-results', 'release', 'dist']) giveBack(join(root, dir), sudoUid, sudoGid);
}

process.exit(result.status ?? 1);

function giveBack(path: string, owner: number, group: number): void {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (!stat) return;
  lchownSync(path, owner, group);
  if (stat.isDirectory()) for (const entry of readdirSync(path)) giveBack(join(path, entry), owner, group);
}
