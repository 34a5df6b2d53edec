// The Windows service control handshake, through advapi32 and koffi rather than a service host
// (WinSW, NSSM): the helper is its own service process, so Stop reaches the same shutdown as SIGTERM
// on Linux (tunnels down, network given back) and the state Windows shows is the helper's own.
//
// When the installer's service starts node.exe, it sets PHANTOMMESH_WINDOWS_SERVICE to the service's
// name (the service's Environment value). Then, as soon as this module loads, the dispatcher is
// started: StartServiceCtrlDispatcherW blocks its thread for the service's life, so it runs as a koffi
// async call (one libuv pool thread). Windows calls ServiceMain and the control handler on threads
// of its own; koffi queues both to the JS thread, which stays free. ServiceMain registers the handler
// and reports START_PENDING; the service's sd_notify lines (READY=1, STOPPING=1) become RUNNING and
// STOP_PENDING through the seam (sd-notify.ts, with NOTIFY_SOCKET set to "scm:NAME"); Stop and
// Shutdown are delivered as SIGTERM; the process's exit reports STOPPED with its exit code.

import koffi from 'koffi';
import { advapi32, HandlerExProc, ServiceMainProc } from '../advapi32_windows.ts';
import type { Pointer } from '../kernel32_windows.ts';
import {
  controlAction,
  ERROR_CALL_NOT_IMPLEMENTED,
  NO_ERROR,
  SERVICE_START_PENDING,
  SERVICE_STOP_PENDING,
  SERVICE_STOPPED,
  serviceStatus,
  stateOf,
} from './service-status_windows.ts';

export const SERVICE_ENV = 'PHANTOMMESH_WINDOWS_SERVICE';

let statusHandle: Pointer = 0n;
let current = SERVICE_START_PENDING;
let checkPoint = 1;

function report(state: number, exitCode = 0): void {
  current = state;
  if (statusHandle === 0n) return; // reported once ServiceMain has registered
  advapi32().SetServiceStatus(statusHandle, serviceStatus(state, checkPoint++, exitCode));
}

/** Connects this process to the service control manager as the service `name`. */
export function startServiceDispatcher(name: string): void {
  const api = advapi32();
  const handler = koffi.register((control: number): number => {
    const action = controlAction(control);
    if (action === 'unsupported') return ERROR_CALL_NOT_IMPLEMENTED;
    if (action === 'stop' && current !== SERVICE_STOP_PENDING) {
      report(SERVICE_STOP_PENDING);
      process.emit('SIGTERM');
    } else report(current);
    return NO_ERROR;
  }, koffi.pointer(HandlerExProc));
  const serviceMain = koffi.register(() => {
    statusHandle = api.RegisterServiceCtrlHandlerExW(name, handler, 0n);
    report(current);
  }, koffi.pointer(ServiceMainProc));
  process.env.NOTIFY_SOCKET = `scm:${name}`;
  process.on('exit', (code) => report(SERVICE_STOPPED, code));
  api.StartServiceCtrlDispatcherW.async(
    [
      { lpServiceName: name, lpServiceProc: serviceMain },
      { lpServiceName: null, lpServiceProc: null },
    ],
    (error, ok) => {
      // Returns when the service has stopped, or at once when not started by the SCM.
      if (error || !ok) process.emitWarning(`not connected to the service control manager as ${name}`);
    },
  );
}

/** The seam's entry: an sd_notify message as a service status. */
export function sdNotifyWindows(_target: string, state: string): void {
  const next = stateOf(state);
  if (next !== null) report(next);
}

if (process.platform === 'win32' && process.env[SERVICE_ENV])
  startServiceDispatcher(process.env[SERVICE_ENV]);
