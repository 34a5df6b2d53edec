// Who is at the other end of a control connection on macOS (the seam is peercred.ts): getsockopt
// LOCAL_PEERCRED gives the struct xucred the kernel recorded when the client connected (its uid and
// groups; a client cannot lie about them), LOCAL_PEERPID its pid. Group membership is Open
// Directory's answer (mbr_check_membership, nested groups included), asked at each connection, so a
// user taken out of the group loses access at their next connection. The socket's fd comes from the
// libuv handle as on Linux (peercred_linux.ts says why); a missing one fails closed.

import type { Socket } from 'node:net';
import koffi from 'koffi';
import { PhantomError } from '../../../shared/src/errors.ts';
import {
  ERANGE,
  libcDarwin,
  LOCAL_PEERCRED,
  LOCAL_PEERPID,
  readXucred,
  SOL_LOCAL,
  strerrorDarwin,
  XUCRED_SIZE,
  XUCRED_VERSION,
} from '../libc_darwin.ts';
import type { PeerCredentials } from './peercred.ts';

const FIRST_BUFFER = 16 * 1024;
const MAX_BUFFER = 16 * 1024 * 1024;

export function peerCredentials(socket: Socket): PeerCredentials {
  const c = libcDarwin();
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new PhantomError(
      'PEER_UNKNOWN',
      'cannot identify the client: the connection has no file descriptor',
    );
  const xucred = new Uint8Array(XUCRED_SIZE);
  if (c.getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, xucred, new Uint32Array([XUCRED_SIZE])) !== 0)
    throw new PhantomError('PEER_UNKNOWN', `cannot identify the client: ${strerrorDarwin(koffi.errno())}`);
  const credentials = readXucred(xucred);
  if (credentials.version !== XUCRED_VERSION || credentials.groups.length === 0)
    throw new PhantomError(
      'PEER_UNKNOWN',
      `cannot identify the client: xucred version ${credentials.version}`,
    );
  const pid = new Uint8Array(4);
  // The pid is for logs only: without it (an old kernel) the connection is still identified.
  const pidKnown = c.getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, pid, new Uint32Array([4])) === 0;
  return {
    pid: pidKnown ? Buffer.from(pid).readInt32LE(0) : 0,
    uid: credentials.uid,
    gid: credentials.groups[0]!,
  };
}

/** The gid of a group, or null if there is no such group. */
export async function groupId(name: string): Promise<number | null> {
  const c = libcDarwin();
  for (let size = FIRST_BUFFER; size <= MAX_BUFFER; size *= 2) {
    const record = {} as { gr_gid: number };
    const found: unknown[] = [null];
    const status = await c.getgrnam_r(name, record, Buffer.alloc(size), size, found);
    if (status === ERANGE) continue;
    if (status !== 0)
      throw new PhantomError('USER_LOOKUP_FAILED', `looking up group ${name}: ${strerrorDarwin(status)}`);
    return found[0] === null ? null : record.gr_gid;
  }
  throw new PhantomError(
    'USER_LOOKUP_FAILED',
    `looking up group ${name}: the answer is over ${MAX_BUFFER} bytes`,
  );
}

/** Whether the user with this uid is a member of group `gid` (primary, supplementary or nested). */
export async function isGroupMember(uid: number, gid: number): Promise<boolean> {
  const c = libcDarwin();
  const user = new Uint8Array(16);
  const group = new Uint8Array(16);
  // Unknown uids and gids have no UUID: not members.
  if ((await c.mbr_uid_to_uuid(uid, user)) !== 0) return false;
  if ((await c.mbr_gid_to_uuid(gid, group)) !== 0) return false;
  const member = new Int32Array(1);
  const status = await c.mbr_check_membership(user, group, member);
  if (status !== 0)
    throw new PhantomError(
      'USER_LOOKUP_FAILED',
      `checking uid ${uid} in gid ${gid}: ${strerrorDarwin(status)}`,
    );
  return member[0] === 1;
}
