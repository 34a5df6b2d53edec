// Who serves a Windows named pipe, decided without any OS call: the callers pass in what Windows said.
// OS-free and koffi-free (shared/), so the CLI and the app decide the same way; each has its own koffi
// calls (helper/src/control/pipe-server-check_windows.ts, app/main/pipe-server-check_windows.ts).
//
// Why a client checks at all: the control pipe's DACL lets members of "PhantomMesh Users" read and
// write it, and on a pipe write access includes FILE_CREATE_PIPE_INSTANCE, so a member can add a
// server instance of their own to \\.\pipe\phantommesh while the helper runs and answer other members'
// clients (taking the configurations they import). All instances share the first one's security
// descriptor, so the pipe's owner says nothing; the instance's server process does
// (GetNamedPipeServerProcessId on the client's own handle). Node's pipe client has no handle to ask
// with, so on Windows the client opens the pipe itself, checks, then hands the handle to node:net
// (connectHelper's `openVerified`).
//
// The check: the server process's token user is LocalSystem (S-1-5-18). A LocalSystem service's token
// is normally closed to standard users (OpenProcessToken: access denied); then the Service Control
// Manager vouches instead: the server must be the PhantomMeshHelper service's own process, and that
// service must run as LocalSystem. Only administrators can install or reconfigure a service, and a
// live process id names one process, so a member's own server cannot pass either way.

import { PhantomError } from '../errors.ts';

/** The well-known SID of LocalSystem (NT AUTHORITY\SYSTEM). */
export const LOCAL_SYSTEM_SID = 'S-1-5-18';
/** The helper's Windows service (installers/windows/installer.nsh, PM_SERVICE). */
export const HELPER_SERVICE_NAME = 'PhantomMeshHelper';
/** Its display name in Services (services.msc), as the installer sets it. */
export const HELPER_SERVICE_DISPLAY_NAME = 'PhantomMesh helper';

/** What Windows said of the user of a process: its SID, or why its token could not be read. */
export type ProcessUser = { sid: string } | { unreadable: string };

/** The helper service's process as the SCM reports it; null when it is not running or not installed. */
export interface ServiceProcess {
  pid: number;
  /** The account it runs as (QueryServiceConfigW's lpServiceStartName), e.g. "LocalSystem". */
  account: string;
}

export function isLocalSystemSid(sid: string): boolean {
  return sid.trim().toUpperCase() === LOCAL_SYSTEM_SID;
}

/** The names the SCM gives LocalSystem as a service's account. */
export function isLocalSystemAccount(account: string): boolean {
  return ['localsystem', '.\\localsystem', 'nt authority\\system'].includes(account.trim().toLowerCase());
}

/**
 * Null when the pipe's server may be trusted, else why not (for the refusal). `service` is asked only
 * when the server's token could not be read.
 */
export function judgePipeServer(
  serverPid: number,
  user: ProcessUser,
  service: () => ServiceProcess | null,
): string | null {
  if (!Number.isInteger(serverPid) || serverPid <= 0) return "Windows did not name the pipe's server process";
  if ('sid' in user)
    return isLocalSystemSid(user.sid)
      ? null
      : `its server (process ${serverPid}) runs as ${user.sid}, not as LocalSystem (${LOCAL_SYSTEM_SID})`;
  const running = service();
  if (running === null)
    return (
      `the user of its server (process ${serverPid}) cannot be read (${user.unreadable}) and the ` +
      `${HELPER_SERVICE_NAME} service is not running`
    );
  if (running.pid !== serverPid)
    return (
      `its server is process ${serverPid}, not the ${HELPER_SERVICE_NAME} service (process ${running.pid}), ` +
      `and its user cannot be read (${user.unreadable})`
    );
  if (!isLocalSystemAccount(running.account))
    return `the ${HELPER_SERVICE_NAME} service runs as ${running.account}, not as LocalSystem`;
  return null;
}

/** The Windows calls openCheckedPipe needs; `H` is a pipe handle, `S` the connection made of one. */
export interface PipeNatives<H, S> {
  /** Opens the pipe as a client (waiting while every instance is busy); a PhantomError when it cannot. */
  open(path: string): Promise<H>;
  /** GetNamedPipeServerProcessId on this handle; 0 when Windows does not say. */
  serverProcessId(handle: H): number;
  /** OpenProcess, OpenProcessToken, GetTokenInformation(TokenUser). */
  processUser(pid: number): ProcessUser;
  /** The helper service's running process, from the SCM. */
  helperService(): ServiceProcess | null;
  close(handle: H): void;
  /** Makes the handle the connection (node:net); on failure it has closed the handle itself. */
  adopt(handle: H): S;
}

/**
 * Opens `path`, checks who serves this very instance, and only then makes it the connection: nothing
 * is written to a server that fails the check, and its handle is closed (HELPER_UNTRUSTED).
 */
export async function openCheckedPipe<H, S>(path: string, natives: PipeNatives<H, S>): Promise<S> {
  const handle = await natives.open(path);
  let refusal: string | null;
  try {
    const pid = natives.serverProcessId(handle);
    refusal =
      pid > 0
        ? judgePipeServer(pid, natives.processUser(pid), () => natives.helperService())
        : judgePipeServer(pid, { unreadable: 'no process id' }, () => null);
  } catch (error) {
    natives.close(handle);
    throw error;
  }
  if (refusal !== null) {
    natives.close(handle);
    throw new PhantomError(
      'HELPER_UNTRUSTED',
      `${path} is not served by the PhantomMesh helper: ${refusal}; not using it`,
    );
  }
  return natives.adopt(handle);
}

const GENERIC_READ = 0x80000000;
const GENERIC_WRITE = 0x40000000;
const FILE_FLAG_OVERLAPPED = 0x40000000;
const SECURITY_SQOS_PRESENT = 0x00100000;
const SECURITY_IDENTIFICATION = 0x00010000;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_ACCESS_DENIED = 5;
const ERROR_SEM_TIMEOUT = 121;
const ERROR_PIPE_BUSY = 231;
/** How long a client waits, in all, while every pipe instance is busy. */
const BUSY_WAIT_MS = 10_000;

/** CreateFileW's dwDesiredAccess for the control pipe. */
export const PIPE_ACCESS = GENERIC_READ | GENERIC_WRITE;
/** CreateFileW's dwCreationDisposition: OPEN_EXISTING. */
export const PIPE_DISPOSITION = 3;
/** CreateFileW's dwFlagsAndAttributes: overlapped (for libuv), and identification only: a server that
 *  is not the helper can never act as this user, even during the moment before it is refused. */
export const PIPE_FLAGS = FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION;

/** The Windows calls openPipeClient makes, through the caller's own koffi declarations. */
export interface PipeOpenCalls<H> {
  /** CreateFileW(path, PIPE_ACCESS, 0, null, PIPE_DISPOSITION, PIPE_FLAGS, null): the handle, or null
   *  when it failed (then `lastError` says why). */
  create(path: string): H | null;
  lastError(): number;
  /** WaitNamedPipeW off the event loop: resolves when an instance is free or `ms` have passed. */
  wait(path: string, ms: number): Promise<void>;
  /** How a Windows error code is said after "cannot open PATH" (e.g. ": The pipe is busy."). */
  describe(code: number): string;
}

/** Opens the pipe as a client, waiting up to 10 s in all while every instance is busy; a PhantomError
 *  when it cannot (HELPER_UNAVAILABLE, or NOT_AUTHORIZED when the pipe's DACL refuses this user). */
export async function openPipeClient<H>(path: string, calls: PipeOpenCalls<H>): Promise<H> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    const handle = calls.create(path);
    if (handle !== null) return handle;
    const error = calls.lastError();
    if (error === ERROR_FILE_NOT_FOUND)
      throw new PhantomError('HELPER_UNAVAILABLE', `nothing is listening on ${path}`);
    if (error === ERROR_ACCESS_DENIED)
      throw new PhantomError(
        'NOT_AUTHORIZED',
        `access denied to ${path}: only administrators and members of its group may use the helper`,
      );
    if (error !== ERROR_PIPE_BUSY && error !== ERROR_SEM_TIMEOUT)
      throw new PhantomError('HELPER_UNAVAILABLE', `cannot open ${path}${calls.describe(error)}`);
    if (Date.now() >= deadline)
      throw new PhantomError('HELPER_UNAVAILABLE', `${path} stayed busy for ${BUSY_WAIT_MS / 1000} s`);
    await calls.wait(path, Math.max(1, Math.min(2000, deadline - Date.now())));
  }
}
