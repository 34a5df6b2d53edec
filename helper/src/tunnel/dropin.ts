// `phantommesh-helper [-f] INTERFACE`: what `wireguard-go [-f] INTERFACE` does, so that wg-quick
// (WG_QUICK_USERSPACE_IMPLEMENTATION) and scripts written for wireguard-go can use PhantomMesh. It
// creates the interface with no configuration (WireGuardInterface: TUN, device, UDP socket on a
// random port, /var/run/wireguard/INTERFACE.sock), leaves the configuration to `wg` and `ip`, and
// stays until the interface is deleted (or SIGINT/SIGTERM), then removes its socket and exits.
//
// Without -f it goes to the background like wireguard-go: it starts itself again with -f, detached
// (its own session), and returns once the child says the interface and the socket exist, exit 0; or
// non-zero with the child's reason when it fails or does not get there in time. The child reports on
// a pipe (fd 3), not on its stdout: its output is inherited only when LOG_LEVEL is set and not
// `silent`, as wireguard-go does, otherwise it goes to /dev/null so that a caller reading this
// process's output (a shell's $(...), execFile) is not kept waiting by the daemon.

import { isPrivileged } from '../privileges.ts';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, writeSync } from 'node:fs';
import { PhantomError } from '../../../shared/src/errors.ts';
import { INTERFACE_NAME_RULE, isInterfaceName } from '../../../shared/src/interface-name.ts';
import { WireGuardInterface } from './wireguard-interface.ts';

/** The environment variable that tells the foreground child where to report readiness. */
const READY_FD_ENV = 'PHANTOMMESH_READY_FD';
const READY = 'ready';
/** How long the background parent waits for its child's interface and socket. */
const START_TIMEOUT_MS = 20_000;

function checkInterfaceName(name: string): void {
  if (!isInterfaceName(name))
    throw new PhantomError(
      'INTERFACE_NAME_INVALID',
      `invalid interface name ${JSON.stringify(name)}: ${INTERFACE_NAME_RULE}`,
    );
}

function requireRoot(): void {
  if (!isPrivileged())
    throw new PhantomError(
      'NOT_ROOT',
      'phantommesh-helper must run as root: it creates a TUN device (try sudo)',
    );
}

/** The readiness report of a foreground child started by `runInBackground`, if this is one. */
function report(message: string): void {
  const fd = Number(process.env[READY_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return;
  delete process.env.PHANTOMMESH_READY_FD;
  try {
    writeSync(fd, `${message}\n`);
    closeSync(fd);
  } catch {
    // The parent gave up waiting: nothing to tell.
  }
}

/** `-f INTERFACE`: the interface in this process, until it is deleted or a signal arrives. */
export async function runInForeground(name: string, log: (line: string) => void): Promise<void> {
  let iface: WireGuardInterface;
  try {
    checkInterfaceName(name);
    requireRoot();
    iface = await WireGuardInterface.open({ name, log });
  } catch (error) {
    report(`failed: ${(error as Error).message}`);
    throw error;
  }
  log(`PhantomMesh interface ${name} is up; configure it with wg and ip (UAPI at ${iface.uapiPath})`);
  report(READY);
  const signalled = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => resolve(`received ${signal}`));
  });
  const reason = await Promise.race([signalled, iface.closed.then((why) => `interface went away: ${why}`)]);
  log(`PhantomMesh interface ${name} is going down: ${reason}`);
  await iface.close();
}

/**
 * INTERFACE without -f: starts `self -f INTERFACE` detached and resolves once it reports the
 * interface and its UAPI socket ready; rejects with the child's reason otherwise (having stopped it).
 */
export async function runInBackground(name: string, self: readonly string[]): Promise<void> {
  checkInterfaceName(name);
  requireRoot();
  const level = process.env.LOG_LEVEL;
  const output = level !== undefined && level !== '' && level !== 'silent' ? 'inherit' : 'ignore';
  const env: NodeJS.ProcessEnv = { ...process.env, [READY_FD_ENV]: '3' };
  const child = spawn(self[0]!, [...self.slice(1), '-f', '--', name], {
    detached: true,
    stdio: ['ignore', output, output, 'pipe'],
    env,
  });
  const pipe = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
  let said = '';
  pipe.setEncoding('utf8');
  pipe.on('data', (chunk: string) => (said += chunk));
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit ${code}`));
    child.once('error', (error) => resolve(error.message));
  });
  const reported = new Promise<void>((resolve) => pipe.once('end', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS);
  });
  const outcome = await Promise.race([reported.then(() => 'reported' as const), exited, timedOut]);
  clearTimeout(timer);
  const message = said.trim();
  const socket = `/var/run/wireguard/${name}.sock`;
  if (outcome === 'reported' && message === READY && existsSync(socket)) {
    pipe.destroy();
    child.unref();
    return;
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  pipe.destroy();
  const why =
    outcome === 'timeout'
      ? `it did not report ready within ${START_TIMEOUT_MS / 1000} s`
      : message.startsWith('failed: ')
        ? message.slice('failed: '.length)
        : outcome === 'reported'
          ? message === READY
            ? `its UAPI socket ${socket} does not exist`
            : `it ended before it was ready (${await exited})`
          : `it ended before it was ready (${outcome})`;
  throw new PhantomError('INTERFACE_FAILED', `interface ${name} did not start: ${why}`);
}
