// The security descriptors of the helper's named pipes, in SDDL. Pure (the unit tests read them).
//
// The control pipe: owned by SYSTEM; network logons denied first (with PIPE_REJECT_REMOTE_CLIENTS,
// nothing from another machine); SYSTEM and Administrators full control; the "PhantomMesh Users"
// group read and write. Node's pipe client (libuv) asks for GENERIC_READ | GENERIC_WRITE, whose
// FILE_GENERIC_WRITE holds FILE_APPEND_DATA, which on a pipe is FILE_CREATE_PIPE_INSTANCE: a member
// could add a server instance of their own while the helper runs. That reaches other members' clients,
// not the helper (every connection's client is checked on the helper's side). So the clients check the
// server of the instance they got before sending anything: the CLI (pipe-server-check_windows.ts) and
// the app (app/main/pipe-server-check_windows.ts) refuse a server process that does not run as
// LocalSystem (shared/src/control/pipe-server-check.ts decides; docs/windows.md). Never run on Windows
// yet. Protected (P): nothing is inherited.

const SID = /^S-1-(\d+-){1,14}\d+$/;

/** SDDL for the control pipe; `groupSid` null admits only SYSTEM and Administrators. */
export function controlPipeSddl(groupSid: string | null): string {
  if (groupSid !== null && !SID.test(groupSid)) throw new Error(`"${groupSid}" is not a SID`);
  return [
    'O:SYG:SYD:P',
    '(D;;GA;;;NU)',
    '(A;;GA;;;SY)',
    '(A;;GA;;;BA)',
    ...(groupSid ? [`(A;;GRGW;;;${groupSid})`] : []),
  ].join('');
}

/** SDDL for a UAPI pipe (wireguard-go's ipc/uapi_windows.go): SYSTEM and Administrators only. */
export const UAPI_PIPE_SDDL = 'O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)';

/** The well-known SIDs the checks compare with. */
export const SYSTEM_SID = 'S-1-5-18';
export const ADMINISTRATORS_SID = 'S-1-5-32-544';

/** A user's "uid" for the connection slots and the logs: the last sub-authority of the SID (its RID). */
export function ridOf(sid: string): number {
  if (!SID.test(sid)) throw new Error(`"${sid}" is not a SID`);
  return Number(sid.slice(sid.lastIndexOf('-') + 1)) >>> 0;
}
