// systemd's service notification protocol (sd_notify(3)) on Linux (the seam is sd-notify.ts): one
// datagram to the AF_UNIX socket named by $NOTIFY_SOCKET. Spoken directly through libc so that the helper needs no libsystemd, which not every distribution installs.

import koffi from 'koffi';
import { libc, SOCK_CLOEXEC, SOCK_DGRAM, strerror } from '../libc_linux.ts';
import { endianness } from 'node:os';
import { PhantomError } from '../../../shared/src/errors.ts';

const AF_UNIX = 1;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) on Linux. */
const SUN_PATH_BYTES = 108;

const failure = (target: string, problem: string) =>
  new PhantomError('SD_NOTIFY_FAILED', `cannot notify systemd at NOTIFY_SOCKET=${target}: ${problem}`);

/** sockaddr_un for a path ("/run/...") or an abstract name ("@..."), with the length to pass. */
function socketAddress(target: string): Buffer {
  let path: Buffer;
  // An abstract name starts with a NUL byte and its length is exact: it is not NUL-terminated.
  if (target.startsWith('@')) path = Buffer.concat([Buffer.of(0), Buffer.from(target.slice(1))]);
  else if (target.startsWith('/')) path = Buffer.concat([Buffer.from(target), Buffer.of(0)]);
  else throw failure(target, 'it is neither an absolute path nor an abstract socket name (@...)');
  if (path.length > SUN_PATH_BYTES) throw failure(target, `longer than ${SUN_PATH_BYTES} bytes`);
  const address = Buffer.alloc(2 + path.length);
  // sun_family is in host byte order.
  if (endianness() === 'LE') address.writeUInt16LE(AF_UNIX, 0);
  else address.writeUInt16BE(AF_UNIX, 0);
  path.copy(address, 2);
  return address;
}

/** Sends `state` to the socket `target` ($NOTIFY_SOCKET); throws SD_NOTIFY_FAILED if it cannot. */
export function sdNotifyLinux(target: string, state: string): void {
  const address = socketAddress(target);
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw failure(target, strerror(koffi.errno()));
  try {
    const message = Buffer.from(state);
    if (c.sendto(fd, message, message.length, MSG_NOSIGNAL, address, address.length) < 0)
      throw failure(target, strerror(koffi.errno()));
  } finally {
    c.close(fd);
  }
}
