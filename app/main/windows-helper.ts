// What the app tells a Windows user when the helper does not answer, from what the Service Control
// Manager says of the helper's service (app/main/pipe-server-check_windows.ts asks it): not installed
// (run the installer again), stopped (start it), disabled, starting (delayed auto-start begins a little
// after Windows does) or running but not answering. Pure, so the unit tests read every message.

import { PhantomError } from '../../shared/src/errors.ts';
import {
  HELPER_SERVICE_DISPLAY_NAME,
  HELPER_SERVICE_NAME,
} from '../../shared/src/control/pipe-server-check.ts';
import type { Platform } from './platform.ts';
import type { WindowsCalls } from './pipe-server-check_windows.ts';

/** SERVICE_STATUS.dwCurrentState values. */
export const SERVICE_STOPPED = 1;
export const SERVICE_START_PENDING = 2;
export const SERVICE_STOP_PENDING = 3;
export const SERVICE_RUNNING = 4;
/** QUERY_SERVICE_CONFIG.dwStartType: disabled. */
export const SERVICE_DISABLED = 4;

/** The helper service as the SCM describes it; null when the SCM could not be asked. */
export type HelperServiceState =
  { installed: false } | { installed: true; state: number; startType: number } | null;

const START =
  `start it as an administrator: \`sc start ${HELPER_SERVICE_NAME}\`, or Services > ` +
  `${HELPER_SERVICE_DISPLAY_NAME} > Start`;

export function windowsHelperHint(service: HelperServiceState): string {
  if (service === null)
    return (
      `The PhantomMesh service (${HELPER_SERVICE_NAME}) does not answer. If it is stopped, ${START}; ` +
      'if it is not installed, run the PhantomMesh installer again.'
    );
  if (!service.installed)
    return (
      "PhantomMesh's service is not installed: run the PhantomMesh installer again (it installs " +
      `the ${HELPER_SERVICE_NAME} service and needs an administrator).`
    );
  if (service.startType === SERVICE_DISABLED)
    return (
      `PhantomMesh's service is disabled. As an administrator, run \`sc config ${HELPER_SERVICE_NAME} ` +
      `start= delayed-auto\` and then \`sc start ${HELPER_SERVICE_NAME}\`, or set its startup type in ` +
      `Services > ${HELPER_SERVICE_DISPLAY_NAME} and start it there.`
    );
  switch (service.state) {
    case SERVICE_START_PENDING:
      return (
        "PhantomMesh's service is starting (it starts a little after Windows does); the app connects " +
        'as soon as it is ready.'
      );
    case SERVICE_RUNNING:
      return (
        "PhantomMesh's service is running but does not answer yet. If this lasts, restart it: " +
        `Services > ${HELPER_SERVICE_DISPLAY_NAME} > Restart.`
      );
    case SERVICE_STOP_PENDING:
      return `PhantomMesh's service is stopping. Once it has stopped, ${START}.`;
    default:
      return `PhantomMesh's service is stopped: ${START}.`;
  }
}

/** The local group whose members may use the helper (installers/windows/installer.nsh, PM_GROUP). */
export const WINDOWS_CONTROL_GROUP = 'PhantomMesh Users';

/**
 * Not in the group: how an administrator adds this user (`DOMAIN\user`, named here because an elevated
 * prompt may run as another account, whose %USERNAME% would be the wrong one).
 */
export function windowsUnauthorizedMessage(user: string): string {
  return (
    'You are not allowed to use the PhantomMesh helper: only administrators and members of the local ' +
    `group "${WINDOWS_CONTROL_GROUP}" may. An administrator adds you with ` +
    `\`net localgroup "${WINDOWS_CONTROL_GROUP}" "${user}" /add\`; then sign out and back in.`
  );
}

/** The Windows parts of the Platform: the checked pipe, the SCM's hint, the group's wording. */
export function windowsPlatformParts(
  windows: WindowsCalls | Error | undefined,
  user: string,
): Pick<Platform, 'helperHint' | 'unauthorizedMessage' | 'openHelper'> {
  const calls = windows instanceof Error || windows === undefined ? null : windows;
  const why = windows instanceof Error ? windows.message : 'not loaded';
  return {
    get helperHint() {
      return windowsHelperHint(calls ? calls.helperServiceState() : null);
    },
    unauthorizedMessage: windowsUnauthorizedMessage(user),
    // Fail closed: without the check, the app does not talk to whatever serves the pipe.
    openHelper: calls
      ? (path) => calls.openVerifiedPipe(path)
      : () =>
          Promise.reject(
            new PhantomError('HELPER_UNTRUSTED', `cannot check who serves the helper's pipe (${why})`),
          ),
  };
}
