// npm run web -- [--socket PATH] [--port N] [--downloads DIR] [--renderer DIR] [--config-dir DIR]
//
// The browser host (app/web/server.ts): the app's main process in Node, the built renderer on
// http://127.0.0.1:N, for development and tests without Electron. It prints the address to open,
// which carries the access token.

import { readFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET_PATH } from '../shared/src/control/socket-path.ts';
import { startWebHost } from '../app/web/web-host.ts';

const USAGE = `usage: npm run web -- [options]

  --socket PATH      the helper's control socket (default ${DEFAULT_SOCKET_PATH})
  --port N           the port on 127.0.0.1 (default 5190; 0 picks a free one)
  --downloads DIR    where saved diagnostics and exported tunnels go (default: a new private
                     directory, mode 0700, under ${tmpdir()})
  --renderer DIR     the built renderer (default dist/renderer)
  --config-dir DIR   where the browser host keeps its app settings
                     (default $XDG_CONFIG_HOME/phantommesh-browser-host)`;

const repo = new URL('..', import.meta.url).pathname;

function defaultConfigDir(): string {
  const configured = process.env.XDG_CONFIG_HOME;
  const base = configured && isAbsolute(configured) ? configured : join(homedir(), '.config');
  return join(base, 'phantommesh-browser-host');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
      port: { type: 'string', default: '5190' },
      downloads: { type: 'string' },
      renderer: { type: 'string', default: join(repo, 'dist', 'renderer') },
      'config-dir': { type: 'string', default: defaultConfigDir() },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port: not a port: ${values.port}`);
  const { version } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };

  const host = await startWebHost({
    socketPath: values.socket,
    port,
    rendererDir: values.renderer,
    ...(values.downloads !== undefined ? { downloadsDir: values.downloads } : {}),
    configDir: values['config-dir'],
    version,
    log: (message) => console.error(`[web] ${message}`),
  });
  console.log(`PhantomMesh browser host: ${host.url}`);
  console.log(`Saved diagnostics and exports go to ${host.downloadsDir}`);
  // Ctrl-C may arrive twice (from the terminal and from npm start, which passes it on): close once.
  let closing = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      void host.close().then(() => process.exit(0));
    });
}

main().catch((error: unknown) => {
  console.error(`web: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  process.exitCode = 2;
});
