// What the helper tells the Windows service control manager, as a pure mapping: the sd_notify lines
// the service already sends (READY=1, STOPPING=1, STATUS=...) become SERVICE_STATUS values, and the
// controls it accepts in each state. sd-notify_windows.ts makes the calls.

export const SERVICE_WIN32_OWN_PROCESS = 0x10;
export const SERVICE_STOPPED = 1;
export const SERVICE_START_PENDING = 2;
export const SERVICE_STOP_PENDING = 3;
export const SERVICE_RUNNING = 4;
export const SERVICE_ACCEPT_STOP = 0x1;
export const SERVICE_ACCEPT_SHUTDOWN = 0x4;
export const SERVICE_CONTROL_STOP = 1;
export const SERVICE_CONTROL_INTERROGATE = 4;
export const SERVICE_CONTROL_SHUTDOWN = 5;
export const NO_ERROR = 0;
export const ERROR_CALL_NOT_IMPLEMENTED = 120;
export const ERROR_SERVICE_SPECIFIC_ERROR = 1066;
/** How long Windows should wait for the next checkpoint while starting or stopping. */
export const WAIT_HINT_MS = 30_000;

export interface ServiceStatusValue {
  dwServiceType: number;
  dwCurrentState: number;
  dwControlsAccepted: number;
  dwWin32ExitCode: number;
  dwServiceSpecificExitCode: number;
  dwCheckPoint: number;
  dwWaitHint: number;
}

/** The state an sd_notify message asks for, or null when it asks for none (STATUS= alone). */
export function stateOf(message: string): number | null {
  const lines = message.split('\n');
  if (lines.includes('STOPPING=1')) return SERVICE_STOP_PENDING;
  if (lines.includes('READY=1')) return SERVICE_RUNNING;
  return null;
}

/** The SERVICE_STATUS for `state`; `checkPoint` counts up while pending; `exitCode` for STOPPED. */
export function serviceStatus(state: number, checkPoint: number, exitCode = 0): ServiceStatusValue {
  const pending = state === SERVICE_START_PENDING || state === SERVICE_STOP_PENDING;
  return {
    dwServiceType: SERVICE_WIN32_OWN_PROCESS,
    dwCurrentState: state,
    dwControlsAccepted: state === SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0,
    dwWin32ExitCode: exitCode === 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR,
    dwServiceSpecificExitCode: exitCode,
    dwCheckPoint: pending ? checkPoint : 0,
    dwWaitHint: pending ? WAIT_HINT_MS : 0,
  };
}

/** What a control asks of the service: stop, answer (interrogate), or nothing we implement. */
export function controlAction(control: number): 'stop' | 'answer' | 'unsupported' {
  if (control === SERVICE_CONTROL_STOP || control === SERVICE_CONTROL_SHUTDOWN) return 'stop';
  if (control === SERVICE_CONTROL_INTERROGATE) return 'answer';
  return 'unsupported';
}
