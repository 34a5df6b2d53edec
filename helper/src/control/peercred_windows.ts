// Who is at the other end of a control pipe on Windows (the seam is peercred.ts), and whether that
// user may control the helper: the client's process id (GetNamedPipeClientProcessId, for the logs),
// and its access token, taken by impersonating it for a moment (ImpersonateNamedPipeClient,
// OpenThreadToken, RevertToSelf): the user's SID and whether the token holds Administrators (enabled:
// an unelevated administrator is not "root") or the "PhantomMesh Users" group (CheckTokenMembership).
// Windows lets the server impersonate only once it has read from the pipe, so the listener checks a
// client at its first bytes (listener_windows.ts). Group changes take effect at the next connection.

import type { Socket } from 'node:net';
import { PhantomError } from '../../../shared/src/errors.ts';
import { advapi32, TOKEN_QUERY, TokenUser } from '../advapi32_windows.ts';
import { kernel32, win32Message, type Pointer } from '../kernel32_windows.ts';
import type { PeerCredentials } from './peercred.ts';
import { ADMINISTRATORS_SID, ridOf, SYSTEM_SID } from './pipe-sddl_windows.ts';
import { PipeConnection } from './pipe-server_windows.ts';

export interface PipeClient extends PeerCredentials {
  sid: string;
  /** SYSTEM, or a token with Administrators enabled. */
  isAdmin: boolean;
  /** Whether the token holds `group` (the SID passed to identifyClient). */
  inGroup: boolean;
}

/** A SID in binary form, from its text (LocalFree'd here; the copy is ours). */
export function sidBytes(text: string): Uint8Array {
  const out = new BigUint64Array(1);
  if (!advapi32().ConvertStringSidToSidW(text, out))
    throw new PhantomError('PEER_UNKNOWN', `the SID ${text}: ${win32Message(kernel32().GetLastError())}`);
  try {
    // A SID is 8 bytes plus 4 per sub-authority (at most 15): copy the most, then trim.
    const copy = new Uint8Array(68);
    kernel32().RtlMoveMemory(copy, out[0]!, 8);
    const length = 8 + 4 * copy[1]!;
    kernel32().RtlMoveMemory(copy, out[0]!, length);
    return copy.subarray(0, length);
  } finally {
    kernel32().LocalFree(out[0]!);
  }
}

/** A SID's text form ("S-1-5-18"). */
export function sidText(sid: Pointer | Uint8Array): string {
  const out = new BigUint64Array(1);
  const pointer = typeof sid === 'bigint' ? sid : sid;
  if (!advapi32().ConvertSidToStringSidW(pointer as Pointer, out))
    throw new PhantomError('PEER_UNKNOWN', `reading a SID: ${win32Message(kernel32().GetLastError())}`);
  try {
    const chars = new Uint16Array(200);
    kernel32().RtlMoveMemory(new Uint8Array(chars.buffer), out[0]!, 400);
    const end = chars.indexOf(0);
    return Buffer.from(chars.buffer, 0, (end === -1 ? chars.length : end) * 2).toString('utf16le');
  } finally {
    kernel32().LocalFree(out[0]!);
  }
}

/** The SID of a local group by name, or null when there is no such group. */
export function groupSid(name: string): string | null {
  const sid = new Uint8Array(68);
  const sidSize = new Uint32Array([sid.length]);
  const domain = new Uint16Array(256);
  const domainSize = new Uint32Array([domain.length]);
  const use = new Uint32Array(1);
  if (!advapi32().LookupAccountNameW(null, name, sid, sidSize, domain, domainSize, use)) return null;
  return sidText(koffiAddress(sid));
}

function koffiAddress(bytes: Uint8Array): Pointer {
  // The SID bytes are passed by pointer; a Uint8Array is one to koffi.
  return bytes as unknown as Pointer;
}

/** Identifies the client of a pipe that has been read from; `group` is the admitted group's SID. */
export function identifyClient(connection: PipeConnection, group: string | null): PipeClient {
  const k = kernel32();
  const a = advapi32();
  const pid = new Uint32Array(1);
  k.GetNamedPipeClientProcessId(connection.handle, pid);
  if (!k.ImpersonateNamedPipeClient(connection.handle))
    throw new PhantomError('PEER_UNKNOWN', `cannot identify the client: ${win32Message(k.GetLastError())}`);
  const tokenOut = new BigUint64Array(1);
  let opened: number;
  try {
    opened = a.OpenThreadToken(k.GetCurrentThread(), TOKEN_QUERY, 1, tokenOut);
  } finally {
    // Back to the service's own identity before anything else runs on this thread.
    if (!a.RevertToSelf()) process.abort();
  }
  if (!opened)
    throw new PhantomError(
      'PEER_UNKNOWN',
      `cannot read the client's token: ${win32Message(k.GetLastError())}`,
    );
  const token = tokenOut[0]!;
  try {
    const info = new Uint8Array(256);
    const needed = new Uint32Array(1);
    if (!a.GetTokenInformation(token, TokenUser, info, info.length, needed))
      throw new PhantomError('PEER_UNKNOWN', `reading the client's user: ${win32Message(k.GetLastError())}`);
    // TOKEN_USER { SID_AND_ATTRIBUTES { PSID Sid; DWORD Attributes } }: the SID pointer is first.
    const sid = sidText(new DataView(info.buffer).getBigUint64(0, true));
    const member = (groupText: string) => {
      const result = new Int32Array(1);
      if (!a.CheckTokenMembership(token, sidBytes(groupText), result))
        throw new PhantomError(
          'PEER_UNKNOWN',
          `checking the client's groups: ${win32Message(k.GetLastError())}`,
        );
      return result[0] !== 0;
    };
    const isAdmin = sid === SYSTEM_SID || member(ADMINISTRATORS_SID);
    const inGroup = group !== null && member(group);
    const uid = isAdmin ? 0 : ridOf(sid);
    // Recorded for the control API's group (a UAPI client, checked without one, records nothing).
    if (group !== null) memberships.set(uid, inGroup ? ridOf(group) : -1);
    return { pid: pid[0]!, uid, gid: 0, sid, isAdmin, inGroup };
  } finally {
    k.CloseHandle(token);
  }
}

/** What identifyClient learnt of each uid's membership at its last connection (uid -> group RID). */
const memberships = new Map<number, number>();
const clients = new WeakMap<object, PeerCredentials>();

/** Remembers who a connection's client is, for peerCredentials. */
export function rememberClient(connection: object, client: PeerCredentials): void {
  clients.set(connection, client);
}

// ---- the seam's functions

export function peerCredentials(socket: Socket): PeerCredentials {
  const known = clients.get(socket);
  if (!known)
    throw new PhantomError('PEER_UNKNOWN', 'cannot identify the client: it has not been checked yet');
  return known;
}

/** The RID of a local group (the "gid" of Windows), or null. */
export async function groupId(name: string): Promise<number | null> {
  const sid = groupSid(name);
  return sid === null ? null : ridOf(sid);
}

/** As the token showed at the user's last connection: Windows decides by token, not by user database. */
export async function isGroupMember(uid: number, gid: number): Promise<boolean> {
  return uid === 0 || memberships.get(uid) === gid;
}
