#!/usr/bin/env node
// The privileged helper's entry point: the service (`serve`) or one tunnel in the foreground.

import { parseArgs } from 'node:util';
import { serve } from '../service/serve.ts';
import { DEFAULT_SOCKET_PATH } from '../../../shared/src/control/socket-path.ts';
import { defaultStateDir } from '../service/paths.ts';
import { runTunnel } from '../tunnel/runner.ts';
import { fail } from './fail.ts';

const USAGE = `usage: phantommesh-helper serve [--socket PATH] [--state-dir DIR]
       phantommesh-helper tunnel FILE.conf [--rekey-after SECONDS]

  serve              run the helper service: stored tunnels, the control API for the app and the
                     phantommesh CLI (root and the phantommesh group), DNS, kill switch
                     (defaults: --socket ${DEFAULT_SOCKET_PATH} --state-dir /var/lib/phantommesh)
  tunnel FILE.conf   bring up the WireGuard tunnel described by a wg-quick file and keep it up until
                     SIGINT/SIGTERM or until the interface is deleted (the interface is named after
                     the file, like wg-quick). --rekey-after starts a new handshake after SECONDS
                     instead of WireGuard's 120, to watch rekeys happen

Environment: LOG_LEVEL=verbose|error|silent (default: lifecycle messages only)`;

function usage(): void {
  console.error(USAGE);
  process.exitCode = 2;
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
      'state-dir': { type: 'string' },
      'rekey-after': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch {
  parsed = null;
}
const [command, ...args] = parsed?.positionals ?? [];
const level = process.env.LOG_LEVEL ?? 'info';
const log = (line: string) => {
  if (level !== 'silent' && level !== 'error') console.log(line);
};

if (!parsed) {
  usage();
} else if (parsed.values.help) {
  console.log(USAGE);
} else if (command === 'serve' && args.length === 0) {
  const { socket, 'state-dir': stateDir } = parsed.values;
  // In a promise: an OS without a state directory yet is reported like any failure to start.
  Promise.resolve()
    .then(() => serve({ socketPath: socket, stateDir: stateDir ?? defaultStateDir() }))
    .catch((error: unknown) => {
      // A start-up that failed half-way may have left servers listening: exit now, non-zero, so
      // systemd sees the failure (and restarts) instead of a helper that ignores SIGTERM. What was
      // changed on the network is in the journal, which the next start undoes.
      fail('phantommesh-helper')(error);
      process.exit(1);
    });
} else if (command === 'tunnel' && args.length === 1) {
  const rekey = parsed.values['rekey-after'];
  if (rekey !== undefined && !(Number(rekey) > 0)) usage();
  else
    runTunnel(args[0]!, { log, ...(rekey !== undefined ? { rekeyAfterSeconds: Number(rekey) } : {}) }).catch(
      fail('phantommesh-helper'),
    );
} else {
  usage();
}
