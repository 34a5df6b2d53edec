// `npm start -- [--socket PATH] [--port N] [--no-build]`: the desktop app from this checkout,
// connected to the helper on the default socket (or --socket PATH).
//
// It builds first when dist/ is missing or older than the sources. Then it runs the Electron app
// where Electron's binary has been downloaded and there is a display. Otherwise it says exactly why
// not and starts the browser host (scripts/web.ts) instead, which prints the address to open.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET_PATH } from '../shared/src/control/socket-path.ts';

const USAGE = `usage: npm start -- [options]

  --socket PATH   the helper's control socket (default ${DEFAULT_SOCKET_PATH})
  --port N        the browser host's port on 127.0.0.1, when it runs instead of Electron (default 5190)
  --no-build      do not build first, even when dist/ is older than the sources`;

const repo = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

/** What `npm run build` makes that the app needs. */
export const BUILD_OUTPUTS = [
  'dist/app/app/main/index.js',
  'dist/app/preload.cjs',
  'dist/renderer/index.html',
];
/** What the build reads: a change in any of these makes dist/ stale. */
const BUILD_INPUTS = [
  'app',
  'shared/src',
  'helper/src',
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
];

function newestFile(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return path.endsWith('.md') ? 0 : stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestFile(join(path, entry)));
  return newest;
}

/** Why `root` needs `npm run build` (an output missing, or a source newer than the oldest output); null when it does not. */
export function buildNeeded(root: string): string | null {
  let oldest = Infinity;
  for (const output of BUILD_OUTPUTS) {
    const stat = statSync(join(root, output), { throwIfNoEntry: false });
    if (!stat) return `${output} is missing`;
    oldest = Math.min(oldest, stat.mtimeMs);
  }
  for (const input of BUILD_INPUTS)
    if (newestFile(join(root, input)) > oldest) return `${input} changed since the last build`;
  return null;
}

export type ElectronStatus = { binary: string } | { binary: null; reason: string };

/**
 * The Electron binary this checkout would run, or the true reason there is none. The electron npm
 * package (45) downloads its binary on first use, not at install: node_modules/electron/path.txt and
 * dist/ appear once it has been fetched, which needs the internet.
 */
export function electronStatus(root: string, env: NodeJS.ProcessEnv = process.env): ElectronStatus {
  const dir = join(root, 'node_modules', 'electron');
  if (!existsSync(join(dir, 'package.json')))
    return { binary: null, reason: 'the electron package is not installed (run npm ci)' };
  const fetch =
    'it is downloaded on first use, which needs the internet: on a machine with internet run ' +
    'node node_modules/electron/install.js';
  const pathFile = join(dir, 'path.txt');
  if (!existsSync(pathFile)) {
    const skipSet =
      env.ELECTRON_SKIP_BINARY_DOWNLOAD !== undefined && env.ELECTRON_SKIP_BINARY_DOWNLOAD !== '';
    return {
      binary: null,
      reason:
        `Electron's binary is not downloaded: node_modules/electron/dist is missing` +
        (skipSet ? ' (ELECTRON_SKIP_BINARY_DOWNLOAD is set in this environment)' : '') +
        `; ${fetch}`,
    };
  }
  const binary = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(binary))
    return {
      binary: null,
      reason: `Electron's binary ${relative(root, binary)} is missing (an interrupted download?); ${fetch}`,
    };
  return { binary };
}

/** Why Electron could not open a window here, or null when there is a display. */
export function noDisplay(env: NodeJS.ProcessEnv = process.env): string | null {
  return env.DISPLAY || env.WAYLAND_DISPLAY
    ? null
    : 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)';
}

function runBuild(): void {
  // Through npm, like `npm run build`: its scripts find the pinned node and the tools in node_modules/.bin.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli
    ? [process.execPath, [npmCli, 'run', '--silent', 'build']]
    : ['npm', ['run', '--silent', 'build']];
  const result = spawnSync(command, args, { cwd: repo, stdio: 'inherit' });
  if (result.error) throw new Error(`could not run npm run build: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`npm run build failed (exit ${result.status})`);
}

/** Runs `child` until it ends; Ctrl-C and SIGTERM are passed on to it. */
function follow(child: ChildProcess): Promise<number> {
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = forward(signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const [name, handler] of handlers) process.off(name, handler);
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
      port: { type: 'string', default: '5190' },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }

  const stale = buildNeeded(repo);
  if (stale && !values['no-build']) {
    console.log(`npm start: building first (${stale})`);
    runBuild();
  }

  const electron = electronStatus(repo);
  const why = electron.binary === null ? electron.reason : noDisplay();
  if (electron.binary !== null && why === null) {
    console.log(`npm start: the Electron app, helper socket ${values.socket}`);
    // Chromium refuses to run as root with its sandbox on; the page's own sandbox stays on.
    const args = [repo, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])];
    return follow(
      spawn(electron.binary, args, {
        cwd: repo,
        stdio: 'inherit',
        env: { ...process.env, PHANTOMMESH_HELPER_SOCKET: values.socket },
      }),
    );
  }

  console.log(`npm start: not running the Electron app: ${why}.`);
  console.log('npm start: starting the browser host instead; open the address it prints (with its token).');
  const host = spawn(
    process.execPath,
    [join(repo, 'scripts', 'web.ts'), '--socket', values.socket, '--port', values.port],
    { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  host.stdout!.setEncoding('utf8');
  host.stdout!.on('data', (text: string) => {
    process.stdout.write(text);
    const url = /PhantomMesh browser host: (http:\/\/\S+)/.exec(text)?.[1];
    // With a desktop but no Electron, the browser host opens in the user's browser.
    if (url && noDisplay() === null && hasCommand('xdg-open'))
      spawn('xdg-open', [url], { stdio: 'ignore', detached: true }).unref();
  });
  return follow(host);
}

if (import.meta.main)
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`npm start: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
      process.exit(2);
    },
  );
