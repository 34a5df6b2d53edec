// Runs one tunnel in the foreground, like `wg-quick up` plus a userspace WireGuard, until a signal
// or the link's deletion, then removes everything it added.

import { isPrivileged } from '../privileges.ts';
import { INTERFACE_NAME_RULE, isInterfaceName } from '../../../shared/src/interface-name.ts';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseConfig } from '../../../shared/src/config/parse.ts';
import type { TunnelConfig } from '../../../shared/src/config/types.ts';
import { ConfigError, PhantomError } from '../../../shared/src/errors.ts';
import { Tunnel } from './tunnel.ts';
import { checkRunnable } from './runnable-config.ts';

export interface RunOptions {
  log: (line: string) => void;
  /** Shortens the initiator's rekey age; for tests that watch a rekey happen. */
  rekeyAfterSeconds?: number;
  /** Resolves when the runner should stop (signals, by default). */
  stop?: Promise<string>;
}

/** wg-quick's rule: the interface is the file's name without `.conf`. */
export function interfaceNameFor(path: string): string {
  const name = basename(path).replace(/\.conf$/, '');
  if (!isInterfaceName(name)) {
    throw new PhantomError(
      'INTERFACE_NAME_INVALID',
      `"${name}" is not a valid interface name: the file name without .conf must be ${INTERFACE_NAME_RULE}`,
    );
  }
  return name;
}

export async function loadTunnelFile(path: string): Promise<TunnelConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PhantomError('CONFIG_UNREADABLE', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return checkRunnable(path, parseConfig(text), false);
  } catch (error) {
    if (error instanceof ConfigError) throw new PhantomError(error.code, `${path}: ${error.message}`);
    throw error;
  }
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => resolve(`received ${signal}`));
  });
}

export async function runTunnel(path: string, options: RunOptions): Promise<void> {
  if (!isPrivileged()) {
    throw new PhantomError(
      'NOT_ROOT',
      'phantommesh-helper must run as root: it creates a TUN device and changes routes (try sudo)',
    );
  }
  const name = interfaceNameFor(path);
  const config = await loadTunnelFile(path);
  const { log } = options;
  const stop = options.stop ?? signalled();
  const tunnel = await Tunnel.open({
    name,
    config,
    log,
    ...(options.rekeyAfterSeconds ? { rekeyAfterSeconds: options.rekeyAfterSeconds } : {}),
  });
  if (config.interface.dns.length + config.interface.dnsSearch.length > 0)
    log(`${name}: DNS is not applied by the foreground runner (the helper service applies it)`);
  if (config.interface.saveConfig) log(`${name}: SaveConfig is ignored: the file is never rewritten`);
  try {
    const reason = await Promise.race([stop, tunnel.closed.then((why) => `interface went away: ${why}`)]);
    log(`PhantomMesh tunnel ${name} is going down: ${reason}`);
  } finally {
    await tunnel.close();
  }
}
