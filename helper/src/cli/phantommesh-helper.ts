#!/usr/bin/env node
// The privileged helper's entry point: the service (`serve`) or one tunnel in the foreground.

import { parseArgs } from 'node:util';
import { serve } from '../service/daemon.ts';
import { DEFAULT_SOCKET_PATH } from '../../../shared/src/control/socket-path.ts';
import { DEFAULT_STATE_DIR } from '../service/paths.ts';
import { runTunnel } from '../tunnel/runner.ts';
import { fail } from './fail.ts';

const USAGE = `usage: phantommesh-helper serve [--socket PATH] [--state-dir DIR]
       phantommesh-helper tunnel FILE.conf

  serve              run the helper service: stored tunnels, the control API for the app and the
                     phantommesh CLI (root and the phantommesh group), DNS, kill switch
                     (defaults: --socket ${DEFAULT_SOCKET_PATH} --state-dir ${DEFAULT_STATE_DIR})
  tunnel FILE.conf   bring up the WireGuard tunnel described by a wg-quick file and keep it up until
                     SIGINT/SIGTERM or until the interface is deleted (the interface is named after
                     the file, like wg-quick)

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
      'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
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
  serve({ socketPath: parsed.values.socket, stateDir: parsed.values['state-dir'] }).catch(
    fail('phantommesh-helper'),
  );
} else if (command === 'tunnel' && args.length === 1) {
  const rekey = Number(process.env.PHANTOMMESH_TEST_REKEY_AFTER_SECONDS ?? 0);
  runTunnel(args[0]!, { log, ...(rekey > 0 ? { rekeyAfterSeconds: rekey } : {}) }).catch(
    fail('phantommesh-helper'),
  );
} else {
  usage();
}
