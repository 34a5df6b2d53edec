// `npm run dist` as far as it goes without the network: electron-builder itself, with the project's
// electron-builder.yml, packs the app into linux-unpacked and prepares the deb and the rpm, and this
// test takes the fpm invocations it would run (fpm and the real Electron binary are downloads, so
// fpm is not run and a stand-in Electron directory is packed; the fuses, which are flipped in the
// real binary, are left out for the same reason). What it checks is what the packages would hold:
// the app and nothing of the helper, electron-builder's own install scripts, the dependency on
// phantommesh-helper, the phantommesh-desktop executable, launcher entry and icons.

import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const repo = new URL('../..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const BUILT = ['dist/app/app/main/index.js', 'dist/app/preload.cjs', 'dist/renderer/index.html'];
const missing = BUILT.filter((file) => !existsSync(join(repo, file)));
const skip =
  missing.length > 0 ? `the app is not built (npm run build): ${missing.join(', ')} missing` : false;

interface FpmConfiguration {
  args: string[];
  customDepends?: string[];
  customRecommends?: string[];
}
interface FpmRun {
  target: string;
  config: FpmConfiguration;
  /** The files fpm would have been given, read while they exist: scripts and the .desktop entry. */
  afterInstall: string;
  afterRemove: string;
  desktopEntry: string;
}

const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string;
  homepage: string;
};
const work = mkdtempSync(join(tmpdir(), 'phantommesh-package-'));
const out = join(work, 'release');
const unpacked = join(out, 'linux-unpacked');
const runs: FpmRun[] = [];
let artifacts: string[] = [];

/** The files of an Electron release that electron-builder moves around; the binary is a script here. */
function standInElectron(dir: string): void {
  mkdirSync(join(dir, 'resources'), { recursive: true });
  mkdirSync(join(dir, 'locales'));
  for (const name of ['electron', 'chrome-sandbox']) {
    writeFileSync(join(dir, name), '#!/bin/sh\necho "a stand-in for Electron"\n');
    chmodSync(join(dir, name), 0o755);
  }
  writeFileSync(join(dir, 'version'), '0.0.0');
  writeFileSync(join(dir, 'LICENSE'), '');
  writeFileSync(join(dir, 'LICENSES.chromium.html'), '');
}

before(async () => {
  if (skip) return;
  const electronDist = join(work, 'electron');
  standInElectron(electronDist);
  const yaml = require('js-yaml') as { load(text: string): unknown };
  const config = yaml.load(readFileSync(join(repo, 'electron-builder.yml'), 'utf8')) as Record<
    string,
    unknown
  >;
  delete config.electronFuses;
  const configPath = join(work, 'electron-builder.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      ...config,
      electronDist,
      directories: { ...(config.directories as object), output: out },
    }),
  );

  const FpmTarget = (
    require('app-builder-lib/out/targets/FpmTarget.js') as {
      default: { prototype: { executeFpm(target: string, config: FpmConfiguration): Promise<void> } };
    }
  ).default;
  FpmTarget.prototype.executeFpm = async (target, fpmConfig) => {
    const file = (flag: string) => readFileSync(fpmConfig.args[fpmConfig.args.indexOf(flag) + 1]!, 'utf8');
    const desktop = fpmConfig.args.find((arg) => /=\/usr\/share\/applications\//.test(arg))!;
    runs.push({
      target,
      config: fpmConfig,
      afterInstall: file('--after-install'),
      afterRemove: file('--after-remove'),
      desktopEntry: readFileSync(desktop.slice(0, desktop.lastIndexOf('=')), 'utf8'),
    });
  };
  const { build, Platform, Arch } = require('electron-builder') as typeof import('electron-builder');
  artifacts = await build({
    projectDir: repo,
    targets: Platform.LINUX.createTarget(['deb', 'rpm'], Arch.x64),
    config: configPath,
    publish: 'never',
  });
});

after(() => rmSync(work, { recursive: true, force: true }));

test('electron-builder prepares a deb and an rpm of the app', { skip }, () => {
  assert.deepEqual(artifacts.map((file) => file.slice(out.length + 1)).sort(), [
    `phantommesh-${pkg.version}.x86_64.rpm`,
    `phantommesh_${pkg.version}_amd64.deb`,
  ]);
  assert.deepEqual(runs.map((run) => run.target).sort(), ['deb', 'rpm']);
});

test('linux-unpacked: the phantommesh-desktop executable and the app, no helper', { skip }, () => {
  const top = readdirSync(unpacked);
  assert.ok(top.includes('phantommesh-desktop'));
  assert.ok(!top.includes('phantommesh'), 'no executable named like the CLI');
  assert.ok(!top.includes('electron'));
  const resources = readdirSync(join(unpacked, 'resources')).sort();
  // apparmor-profile is copied in for electron-builder's after-install script.
  assert.deepEqual(resources, ['app.asar', 'apparmor-profile', 'icons']);
  assert.deepEqual(readdirSync(join(unpacked, 'resources', 'icons')).sort(), [
    'tray-connected.png',
    'tray-connected@2x.png',
    'tray-connecting.png',
    'tray-connecting@2x.png',
    'tray-disconnected.png',
    'tray-disconnected@2x.png',
    'tray-error.png',
    'tray-error@2x.png',
  ]);
});

test('app.asar: the main process, preload and renderer with their run-time modules only', { skip }, () => {
  const asar = require('@electron/asar') as {
    listPackage(archive: string, options: { isPack: boolean }): string[];
    extractFile(archive: string, file: string): Buffer;
  };
  const archive = join(unpacked, 'resources', 'app.asar');
  const files = asar.listPackage(archive, { isPack: false }).map((file) => file.replace(/^\//, ''));
  for (const file of BUILT) assert.ok(files.includes(file), `${file} is in app.asar`);
  for (const module of ['zod', 'electron-updater'])
    assert.ok(files.includes(`node_modules/${module}/package.json`), `${module} is in app.asar`);
  for (const module of ['koffi', '@koromix', '@noble', 'react', 'react-dom', 'zustand'])
    assert.ok(!files.some((file) => file.startsWith(`node_modules/${module}/`)), `no ${module} in app.asar`);
  assert.ok(!files.some((file) => file.startsWith('dist/helper') || file.startsWith('dist/shared')));
  // The main process imports shared/ only, never the helper's code.
  assert.deepEqual(
    files.filter((file) => /^dist\/app\/helper\//.test(file)),
    [],
  );
  const packaged = JSON.parse(asar.extractFile(archive, 'package.json').toString('utf8')) as Record<
    string,
    unknown
  >;
  assert.equal(packaged.main, 'dist/app/app/main/index.js');
  assert.equal(packaged.desktopName, 'phantommesh-desktop.desktop');
});

test("fpm: depends on phantommesh-helper at this version; electron-builder's own scripts", { skip }, () => {
  for (const run of runs) {
    const { args } = run.config;
    const helper =
      run.target === 'deb' ? `phantommesh-helper (= ${pkg.version})` : `phantommesh-helper = ${pkg.version}`;
    assert.equal(run.config.customDepends?.at(-1), helper);
    assert.ok(run.config.customDepends!.length > 5, 'the default dependencies are kept');
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(value('--name'), 'phantommesh');
    assert.equal(value('--version'), pkg.version);
    assert.equal(value('--url'), pkg.homepage);
    assert.ok(!args.some((arg) => /^--(before|after)-(install|remove|upgrade)=/.test(arg)));
    assert.ok(!args.includes('--before-remove'));
    // The scripts are electron-builder's templates, filled in for this executable.
    assert.match(run.afterInstall, /\/usr\/bin\/phantommesh-desktop/);
    assert.match(run.afterInstall, /chmod 4755 '\/opt\/PhantomMesh\/chrome-sandbox'/);
    assert.match(run.afterInstall, /apparmor_parser/);
    assert.match(run.afterRemove, /update-alternatives --remove 'phantommesh-desktop'/);
    assert.ok(!/phantommesh-helper|systemctl/.test(run.afterInstall + run.afterRemove));
  }
});

test('fpm: the files are the app, its launcher entry and its icons; no unit, no policy', { skip }, () => {
  for (const run of runs) {
    const mappings = run.config.args
      .filter((arg) => /^\/.*=\//.test(arg))
      .map((arg) => arg.slice(arg.lastIndexOf('=') + 1));
    assert.deepEqual(mappings, [
      '/opt/PhantomMesh',
      '/usr/share/icons/hicolor/256x256/apps/phantommesh-desktop.png',
      '/usr/share/icons/hicolor/512x512/apps/phantommesh-desktop.png',
      '/usr/share/applications/phantommesh-desktop.desktop',
    ]);
    assert.match(run.desktopEntry, /^Exec=\/opt\/PhantomMesh\/phantommesh-desktop %U$/m);
    assert.match(run.desktopEntry, /^Icon=phantommesh-desktop$/m);
    assert.match(run.desktopEntry, /^StartupWMClass=phantommesh-desktop$/m);
    assert.match(run.desktopEntry, /^Categories=Network;$/m);
  }
});
