#!/usr/bin/env node
// The privileged helper's entry point: the service (`serve`), one tunnel in the foreground
// (`tunnel FILE.conf`), or, like wireguard-go, a bare interface that `wg` and `ip` configure
// (`[-f] INTERFACE`, see ../tunnel/dropin.ts).

import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET_PATH } from '../../../shared/src/control/socket-path.ts';
import { defaultStateDir } from '../service/paths.ts';
import { HELPER_VERSION } from '../service/version.ts';
import { fail } from './fail.ts';

// Each mode's code is imported when that mode runs: the service, which sits idle in every user's
// process list, then does not carry the foreground runner and the drop-in (docs/performance.md).

const USAGE = `usage: phantommesh-helper serve [--socket PATH] [--state-dir DIR]
       phantommesh-helper tunnel FILE.conf [--rekey-after SECONDS]
       phantommesh-helper [-f|--foreground] [--] INTERFACE
       phantommesh-helper --version

  serve              run the helper service: stored tunnels, the control API for the app and the
                     phantommesh CLI (root and the phantommesh group), DNS, kill switch
                     (defaults: --socket ${DEFAULT_SOCKET_PATH} --state-dir /var/lib/phantommesh)
  tunnel FILE.conf   bring up the WireGuard tunnel described by a wg-quick file and keep it up until
                     SIGINT/SIGTERM or until the interface is deleted (the interface is named after
                     the file, like wg-quick). --rekey-after starts a new handshake after SECONDS
                     instead of WireGuard's 120, to watch rekeys happen
  INTERFACE          what wireguard-go INTERFACE does, for wg-quick (WG_QUICK_USERSPACE_IMPLEMENTATION)
                     and scripts: create the interface with no configuration, serve
                     /var/run/wireguard/INTERFACE.sock for wg, go to the background once both exist
                     (exit 0; non-zero with the reason if it could not) and stay until the interface
                     is deleted (ip link del). -f stays in the foreground. An interface named like a
                     subcommand (serve, tunnel) is only taken after --: phantommesh-helper -- serve

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
      version: { type: 'boolean', default: false },
      foreground: { type: 'boolean', short: 'f', default: false },
    },
    tokens: true,
  });
} catch {
  parsed = null;
}
const [command, ...args] = parsed?.positionals ?? [];
const SUBCOMMANDS = ['serve', 'tunnel'];
// The positionals given after `--` are interface names, never subcommands.
const terminator = parsed?.tokens.find((token) => token.kind === 'option-terminator')?.index;
const firstPositional = parsed?.tokens.find((token) => token.kind === 'positional');
const isSubcommand =
  command !== undefined &&
  SUBCOMMANDS.includes(command) &&
  !(terminator !== undefined && firstPositional !== undefined && firstPositional.index > terminator);
const onlyInterfaceOptions =
  parsed !== null &&
  parsed.tokens.every(
    (token) => token.kind !== 'option' || token.name === 'foreground' || token.name === 'help',
  );
const level = process.env.LOG_LEVEL ?? 'info';
const log = (line: string) => {
  if (level !== 'silent' && level !== 'error') console.log(line);
};

if (!parsed) {
  usage();
} else if (parsed.values.help) {
  console.log(USAGE);
} else if (parsed.values.version) {
  if (parsed.positionals.length > 0) usage();
  else console.log(`phantommesh-helper ${HELPER_VERSION}`);
} else if (isSubcommand && parsed.values.foreground) {
  console.error(
    `phantommesh-helper: ${command} is a subcommand; an interface named ${command} is given after --: ` +
      `phantommesh-helper -f -- ${command}`,
  );
  usage();
} else if (command === 'serve' && isSubcommand && args.length === 0) {
  const { socket, 'state-dir': stateDir } = parsed.values;
  // In a promise: an OS without a state directory yet is reported like any failure to start.
  import('../service/serve.ts')
    .then(({ serve }) => serve({ socketPath: socket, stateDir: stateDir ?? defaultStateDir() }))
    .catch((error: unknown) => {
      // A start-up that failed half-way may have left servers listening: exit now, non-zero, so
      // systemd sees the failure (and restarts) instead of a helper that ignores SIGTERM. What was
      // changed on the network is in the journal, which the next start undoes.
      fail('phantommesh-helper')(error);
      process.exit(1);
    });
} else if (command === 'tunnel' && isSubcommand && args.length === 1) {
  const rekey = parsed.values['rekey-after'];
  if (rekey !== undefined && !(Number(rekey) > 0)) usage();
  else
    import('../tunnel/runner.ts')
      .then(({ runTunnel }) =>
        runTunnel(args[0]!, { log, ...(rekey !== undefined ? { rekeyAfterSeconds: Number(rekey) } : {}) }),
      )
      .catch(fail('phantommesh-helper'));
} else if (command !== undefined && !isSubcommand && args.length === 0 && onlyInterfaceOptions) {
  const run = import('../tunnel/dropin.ts').then(({ runInBackground, runInForeground }) =>
    parsed.values.foreground
      ? runInForeground(command, log)
      : runInBackground(command, [process.execPath, ...process.execArgv, process.argv[1]!]),
  );
  run.then(
    // Nothing else may keep a daemon alive once its interface is gone.
    () => process.exit(process.exitCode ?? 0),
    (error: unknown) => {
      fail('phantommesh-helper')(error);
      process.exit(1);
    },
  );
} else {
  usage();
}
