// Who is at the other end of a control connection on Linux (the seam is peercred.ts), through libc: SO_PEERCRED gives the uid, gid and pid the client had
// when it connected, as the kernel recorded them (a client cannot lie about them); group membership
// comes from the user database (getpwuid_r + getgrouplist, through NSS, what `id USER` shows), so
// removing a user from the group takes effect at their next connection, not at their next login.
//
// Node has no public way to get a net.Socket's fd. `socket._handle.fd` is the fd getter of the
// socket's libuv pipe handle; unlike dgram's private fields (DEP0112) it is not deprecated and warns
// nothing on Node 24 (checked with --throw-deprecation). The documented alternative is accepting in
// libc ourselves and wrapping each fd with `new net.Socket({ fd })`: a whole accept loop, for the day
// the getter goes away. Until then a missing fd fails closed (the connection is refused).

import type { Socket } from 'node:net';
import koffi from 'koffi';
import { ERANGE, libc, SOL_SOCKET, strerror } from '../libc_linux.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import type { PeerCredentials } from './peercred.ts';

const SO_PEERCRED = 17;
/** NSS answers for one user or group fit in a few KiB; directories with huge groups need more. */
const FIRST_BUFFER = 16 * 1024;
const MAX_BUFFER = 16 * 1024 * 1024;

export function peerCredentials(socket: Socket): PeerCredentials {
  const c = libc();
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new PhantomError(
      'PEER_UNKNOWN',
      'cannot identify the client: the connection has no file descriptor',
    );
  // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const ucred = new Int32Array(3);
  const length = new Uint32Array([ucred.byteLength]);
  if (c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ucred, length) !== 0)
    throw new PhantomError('PEER_UNKNOWN', `cannot identify the client: ${strerror(koffi.errno())}`);
  return { pid: ucred[0]!, uid: ucred[1]! >>> 0, gid: ucred[2]! >>> 0 };
}

/**
 * Calls a getXXX_r function with a growing buffer until the answer fits. The record is null when
 * the user or group does not exist.
 */
async function lookup<T>(
  call: (record: T, buffer: Buffer, found: unknown[]) => Promise<number>,
  what: string,
) {
  for (let size = FIRST_BUFFER; size <= MAX_BUFFER; size *= 2) {
    const record = {} as T;
    const found: unknown[] = [null];
    // The strings of the record point into the buffer; koffi decodes them when the call completes.
    const status = await call(record, Buffer.alloc(size), found);
    if (status === ERANGE) continue;
    if (status !== 0) throw new PhantomError('USER_LOOKUP_FAILED', `${what}: ${strerror(status)}`);
    return found[0] === null ? null : record;
  }
  throw new PhantomError('USER_LOOKUP_FAILED', `${what}: the answer is over ${MAX_BUFFER} bytes`);
}

/** The gid of a group, or null if there is no such group. */
export async function groupId(name: string): Promise<number | null> {
  const c = libc();
  const group = await lookup<{ gr_gid: number }>(
    (record, buffer, found) => c.getgrnam_r(name, record, buffer, buffer.length, found),
    `looking up group ${name}`,
  );
  return group ? group.gr_gid : null;
}

/** Whether the user with this uid has `gid` as primary or supplementary group. Unknown uids do not. */
export async function isGroupMember(uid: number, gid: number): Promise<boolean> {
  const c = libc();
  const user = await lookup<{ pw_name: string; pw_gid: number }>(
    (record, buffer, found) => c.getpwuid_r(uid, record, buffer, buffer.length, found),
    `looking up uid ${uid}`,
  );
  if (!user) return false;
  if (user.pw_gid === gid) return true;
  let groups = new Uint32Array(64);
  while (true) {
    const count = new Int32Array([groups.length]);
    // On -1 glibc sets `count` to the number it has.
    if ((await c.getgrouplist(user.pw_name, user.pw_gid, groups, count)) >= 0)
      return groups.subarray(0, count[0]).includes(gid);
    if (count[0]! <= groups.length)
      throw new PhantomError('USER_LOOKUP_FAILED', `listing the groups of uid ${uid}`);
    groups = new Uint32Array(count[0]!);
  }
}
