// electron-builder.yml, checked without building: loaded and validated by app-builder-lib itself (its
// loader, its JSON schema scheme.json, its own extra checks), then held to what the packages must be:
// the app only, depending on the phantommesh-helper package at the same version, electron-builder's
// own install scripts, an executable that is not the `phantommesh` CLI, and a 512/256 px icon.
// test/unit/app-package-layout.test.ts goes further and runs electron-builder up to fpm.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXECUTABLE_NAME } from '../../app/main/login-item.ts';

const repo = new URL('../..', import.meta.url).pathname;
const require = createRequire(import.meta.url);

type Config = Record<string, unknown> & {
  linux?: Record<string, unknown>;
  deb?: Record<string, unknown>;
  rpm?: Record<string, unknown>;
  extraResources?: unknown;
  files?: unknown;
};

interface ConfigModule {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: null): Promise<Config>;
  validateConfiguration(config: Config, debugLogger: { isEnabled: boolean; add(): void }): Promise<void>;
}
const configModule = require('app-builder-lib/out/util/config/config.js') as ConfigModule;
const FpmTarget = (
  require('app-builder-lib/out/targets/FpmTarget.js') as {
    default: { prototype: { getDefaultDepends(target: string): string[] } };
  }
).default;
const yaml = require('js-yaml') as { load(text: string): unknown };

const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string;
  homepage?: string;
  bin: Record<string, string>;
};
/** The file as written (electron-builder's getConfig normalizes files/extraResources). */
const raw = yaml.load(readFileSync(join(repo, 'electron-builder.yml'), 'utf8')) as Config;
const quiet = { isEnabled: false, add() {} };

/** What electron-builder itself would use: the file through its own loader. */
const effective = () => configModule.getConfig(repo, null, null);

test('electron-builder.yml passes app-builder-lib validation against its JSON schema', async () => {
  const config = await effective();
  await configModule.validateConfiguration(config, quiet);
  // The validator does refuse what the schema does not allow: a misspelt key, a wrong type.
  await assert.rejects(
    configModule.validateConfiguration({ ...config, linux: { executablName: 'x' } }, quiet),
  );
  await assert.rejects(configModule.validateConfiguration({ ...config, deb: { depends: 'x' } }, quiet));
});

test('the deb and rpm depend on phantommesh-helper at this version, after the default list', () => {
  const defaults = (target: string) => FpmTarget.prototype.getDefaultDepends.call(null, target);
  assert.deepEqual(raw.deb?.depends, [...defaults('deb'), `phantommesh-helper (= ${pkg.version})`]);
  assert.deepEqual(raw.rpm?.depends, [...defaults('rpm'), `phantommesh-helper = ${pkg.version}`]);
  assert.equal(raw.linux?.depends, undefined, 'depends is per package format');
});

test('no copy of the helper: no helper resources, maintainer scripts or fpm file mappings', () => {
  const text = readFileSync(join(repo, 'electron-builder.yml'), 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  for (const gone of [
    'dist/helper',
    'dist/shared',
    'start-helper',
    'install-helper',
    'postinst',
    'prerm',
    'postrm',
    'resources/linux',
    'installers/linux',
    '.service',
    '.policy',
  ])
    assert.ok(!text.includes(gone), `electron-builder.yml still names ${gone}`);
  for (const section of [raw, raw.linux, raw.deb, raw.rpm]) {
    // electron-builder's own after-install/after-remove make the /usr/bin link, set chrome-sandbox's
    // mode and install the AppArmor profile; replacing them would lose all three.
    assert.equal(section?.afterInstall, undefined);
    assert.equal(section?.afterRemove, undefined);
    assert.equal(section?.fpm, undefined);
  }
  assert.equal(raw.linux?.extraResources, undefined);
  assert.deepEqual(raw.extraResources, [
    { from: 'resources/icons', to: 'icons', filter: ['tray-*.png', '!tray-*Template*.png'] },
  ]);
});

test('the GUI executable does not take the name of the phantommesh CLI', () => {
  assert.equal(raw.linux?.executableName, EXECUTABLE_NAME);
  assert.ok(!Object.keys(pkg.bin).includes(EXECUTABLE_NAME));
  assert.ok(Object.keys(pkg.bin).includes('phantommesh'));
  assert.equal((raw.extraMetadata as { desktopName?: string }).desktopName, `${EXECUTABLE_NAME}.desktop`);
  assert.equal(raw.linux?.syncDesktopName, true);
});

test('the app icon: 512 and 256 px PNGs in the folder linux.icon names', () => {
  const dir = join(repo, String(raw.linux?.icon));
  assert.deepEqual(readdirSync(dir).sort(), ['256x256.png', '512x512.png']);
  for (const size of [256, 512]) {
    const png = readFileSync(join(dir, `${size}x${size}.png`));
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [size, size]);
  }
});

test("the homepage is package.json's, not repeated in the config", () => {
  assert.match(pkg.homepage ?? '', /^https:\/\//);
  assert.equal(raw.homepage, undefined);
  assert.equal((raw.extraMetadata as Record<string, unknown>).homepage, undefined);
});

test('security fuses and update signatures are explicit per OS', () => {
  const fuses = raw.electronFuses as Record<string, boolean>;
  for (const fuse of ['runAsNode', 'enableNodeOptionsEnvironmentVariable', 'enableNodeCliInspectArguments'])
    assert.equal(fuses[fuse], false, fuse);
  assert.equal(fuses.grantFileProtocolExtraPrivileges, false);
  assert.equal(fuses.onlyLoadAppFromAsar, true);
  assert.equal(fuses.enableEmbeddedAsarIntegrityValidation, true);
  const win = raw.win as {
    verifyUpdateCodeSignature?: boolean;
    signtoolOptions?: { publisherName?: string };
  };
  assert.equal(win.verifyUpdateCodeSignature, true);
  assert.ok(win.signtoolOptions?.publisherName, 'Windows updates are checked against a named publisher');
  assert.equal((raw.mac as { hardenedRuntime?: boolean }).hardenedRuntime, true);
  assert.equal(raw.publish, undefined, 'no update feed until one is configured (README)');
});
