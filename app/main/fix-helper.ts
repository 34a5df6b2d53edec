// "Start the helper" from the app. On Linux the phantommesh-helper package installs two fixed,
// root-owned, argument-free scripts in /usr/lib/phantommesh-helper and a polkit action for each
// (net.phantommesh.helper.policy, whose exec.path names them), so the password prompt can only ever
// mean "start (or repair) the PhantomMesh helper": start-helper when the service is installed and
// enabled, install-helper (enable, then restart) when it was disabled. The app's own package carries
// no copy of them: they belong to the helper's package, which the app's depends on.

import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { NotSupportedError, PhantomError } from '../../shared/src/errors.ts';

/** Where the phantommesh-helper package puts its files (the polkit actions' exec.path). */
export const HELPER_LIB_DIR = '/usr/lib/phantommesh-helper';
export const START_HELPER = `${HELPER_LIB_DIR}/start-helper`;
export const INSTALL_HELPER = `${HELPER_LIB_DIR}/install-helper`;

const SERVICE = 'phantommesh-helper.service';
/** pkexec's exit codes: the dialog was dismissed, or polkit said no. */
const PKEXEC_DISMISSED = 126;
const PKEXEC_NOT_AUTHORIZED = 127;

export type Run = (command: string, args: string[]) => Promise<{ code: number; stderr: string }>;

function run(command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, (error, _stdout, stderr) => {
      if (error?.code === 'ENOENT')
        reject(
          new PhantomError('FIX_FAILED', `${command} is not installed, so the app cannot start the helper`),
        );
      else if (error && typeof error.code !== 'number') reject(error);
      else resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr: stderr.trim() });
    });
  });
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface FixHelperOptions {
  platform?: NodeJS.Platform;
  /** Runs a program and reports its exit code (tests pass a fake). */
  run?: Run;
  isExecutable?: (path: string) => Promise<boolean>;
}

export async function fixHelper(options: FixHelperOptions = {}): Promise<void> {
  const platform = options.platform ?? process.platform;
  const exec = options.run ?? run;
  const executable = options.isExecutable ?? isExecutable;
  if (platform !== 'linux') throw new NotSupportedError('Starting the helper from the app', platform);
  const enabled = (await exec('systemctl', ['is-enabled', '--quiet', SERVICE])).code === 0;
  const script = enabled ? START_HELPER : INSTALL_HELPER;
  if (!(await executable(script)))
    throw new PhantomError(
      'HELPER_NOT_INSTALLED',
      `${script} is missing: the phantommesh-helper package is not installed. ` +
        'Install it with your package manager, or start the helper by hand: sudo npx phantommesh-helper serve',
    );
  const { code, stderr } = await exec('pkexec', [script]);
  if (code === 0) return;
  if (code === PKEXEC_DISMISSED)
    throw new PhantomError(
      'FIX_CANCELLED',
      'Starting the helper was cancelled: no administrator password was given.',
    );
  if (code === PKEXEC_NOT_AUTHORIZED)
    throw new PhantomError(
      'NOT_AUTHORIZED',
      'The system did not allow starting the helper from this session.',
    );
  throw new PhantomError(
    'FIX_FAILED',
    `Starting the helper failed (exit ${code})${stderr ? `: ${stderr}` : ''}`,
  );
}
