#!/usr/bin/env node
// The privileged helper's entry point. Today: `tunnel FILE.conf` runs one tunnel in the foreground.

import { runTunnel } from '../tunnel/runner.ts';
import { fail } from './fail.ts';

const USAGE = `usage: phantommesh-helper tunnel FILE.conf

  tunnel FILE.conf   bring up the WireGuard tunnel described by a wg-quick file and keep it up until
                     SIGINT/SIGTERM or until the interface is deleted (the interface is named after
                     the file, like wg-quick)

Environment: LOG_LEVEL=verbose|error|silent (default: lifecycle messages only)`;

const [command, ...args] = process.argv.slice(2);
const level = process.env.LOG_LEVEL ?? 'info';
const log = (line: string) => {
  if (level !== 'silent' && level !== 'error') console.log(line);
};

if (command === 'tunnel' && args.length === 1) {
  const rekey = Number(process.env.PHANTOMMESH_TEST_REKEY_AFTER_SECONDS ?? 0);
  runTunnel(args[0]!, { log, ...(rekey > 0 ? { rekeyAfterSeconds: rekey } : {}) }).catch(
    fail('phantommesh-helper'),
  );
} else if (command === '--help' || command === '-h') {
  console.log(USAGE);
} else {
  console.error(USAGE);
  process.exitCode = 2;
}
