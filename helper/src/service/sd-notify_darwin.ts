// The readiness protocol on macOS (the seam is sd-notify.ts). launchd has none: it starts the helper
// and restarts it (KeepAlive), and clients wait for the control socket. The seam only calls this when
// $NOTIFY_SOCKET is set, which launchd never does; a test harness or a supervisor that speaks
// sd_notify on a Mac still gets its datagram: one sendto() to the AF_UNIX path, with Darwin's
// sockaddr_un (sun_len, 104-byte path, no abstract names).

import koffi from 'koffi';
import { PhantomError } from '../../../shared/src/errors.ts';
import { AF_UNIX, libcDarwin, SOCK_DGRAM, sockaddrUn, strerrorDarwin } from '../libc_darwin.ts';

const failure = (target: string, problem: string) =>
  new PhantomError('SD_NOTIFY_FAILED', `cannot notify NOTIFY_SOCKET=${target}: ${problem}`);

export function sdNotifyDarwin(target: string, state: string): void {
  if (!target.startsWith('/'))
    throw failure(target, 'macOS has no abstract sockets: it must be an absolute path');
  let address: Buffer;
  try {
    address = sockaddrUn(target);
  } catch (error) {
    throw failure(target, (error as Error).message);
  }
  const c = libcDarwin();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) throw failure(target, strerrorDarwin(koffi.errno()));
  try {
    const message = Buffer.from(state);
    if (c.sendto(fd, message, message.length, 0, address, address.length) < 0)
      throw failure(target, strerrorDarwin(koffi.errno()));
  } finally {
    c.close(fd);
  }
}
