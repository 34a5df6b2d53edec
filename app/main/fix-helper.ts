// "Start the helper" from the app. On Linux the deb/rpm installs two fixed, root-owned, argument-free
// scripts and a polkit action for each (resources/linux/*.policy), so the password prompt can only
// ever mean "start (or repair) the PhantomMesh helper": start-helper when the service is installed and
// enabled, install-helper (the package's postinst again) when it was disabled or removed.

import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { NotSupportedError, PhantomError } from '../../shared/src/errors.ts';

const SERVICE = 'phantommesh-helper.service';
/** pkexec's exit codes: the dialog was dismissed, or polkit said no. */
const PKEXEC_DISMISSED = 126;
const PKEXEC_NOT_AUTHORIZED = 127;

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

export async function fixHelper(
  resourcesPath: string,
  platform: NodeJS.Platform = process.platform,
): Promise<void> {
  if (platform !== 'linux') throw new NotSupportedError('Starting the helper from the app', platform);
  const enabled = (await run('systemctl', ['is-enabled', '--quiet', SERVICE])).code === 0;
  const script = join(resourcesPath, 'helper', enabled ? 'start-helper' : 'install-helper');
  try {
    await access(script, constants.X_OK);
  } catch {
    throw new PhantomError(
      'HELPER_NOT_INSTALLED',
      `${script} is missing: this copy of PhantomMesh was not installed from its package. ` +
        'Start the helper by hand: sudo npx phantommesh-helper serve',
    );
  }
  const { code, stderr } = await run('pkexec', [script]);
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
