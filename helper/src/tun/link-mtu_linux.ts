// The MTU of a TUN device's link, set at creation and followed afterwards: `ip link set DEV mtu N`
// must reach the device, which pads to it (wireguard-go's tun_linux.go routineNetlinkListener and
// EventMTUUpdate). The link may be moved to another network namespace (`ip link set DEV netns X`)
// while this process and its sockets stay where they are, so:
// - the rtnetlink socket that hears link changes listens to every namespace that has an id here
//   (NETLINK_LISTEN_ALL_NSID); moving a link from here assigns its new namespace one;
// - a change heard anywhere is not trusted for its contents: the MTU is asked of the device itself,
//   in the namespace the TUN fd says it is in now (TUNGETDEVNETNS, name by TUNGETIFF, SIOCGIFMTU on
//   a socket made in that namespace). A burst of notifications costs one such question.
// A link moved on from that namespace to a third one is followed only if the third one also has an
// id here (as `ip netns` gives to namespaces whose veths cross into this one).

import { readlinkSync } from 'node:fs';
import koffi from 'koffi';
import {
  EINTR,
  libc,
  O_CLOEXEC,
  type PollHandle,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  strerror,
  watchReadable,
} from '../libc_linux.ts';

const AF_INET = 2;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_LISTEN_ALL_NSID = 8;
const RTMGRP_LINK = 1;
const SOCKADDR_NL_SIZE = 12;
const O_RDONLY = 0;
const CLONE_NEWNET = 0x40000000;
const EBADF = 9;

const SIOCGIFMTU = 0x8921;
const SIOCSIFMTU = 0x8922;
const TUNGETIFF = 0x800454d2;
/** _IO('T', 227), Linux 5.2: an fd of the namespace the TUN device is in now. */
const TUNGETDEVNETNS = 0x54e3;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
/** Past the virtio header a TUN packet is at most 65535 bytes. */
export const MAX_MTU = 65535;

const setns = (fd: number, nstype: number): number => libc().setns(fd, nstype);

function ifreq(name: string): Buffer {
  const ifr = Buffer.alloc(IFREQ_SIZE);
  ifr.write(name, 0, IFNAMSIZ - 1, 'utf8');
  return ifr;
}

/** Sets the MTU of link `name` in this process's namespace (SIOCSIFMTU); throws with the reason. */
export function setLinkMtu(name: string, mtu: number): void {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket: ${strerror(koffi.errno())}`);
  try {
    const ifr = ifreq(name);
    ifr.writeInt32LE(mtu, IFNAMSIZ);
    if (c.ioctl(fd, SIOCSIFMTU, 'void *', ifr) < 0)
      throw new Error(`setting the MTU of ${name} to ${mtu}: ${strerror(koffi.errno())}`);
  } finally {
    c.close(fd);
  }
}

/** The MTU of link `name` in this process's namespace (SIOCGIFMTU); throws with the reason. */
export function getLinkMtu(name: string): number {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket: ${strerror(koffi.errno())}`);
  try {
    const ifr = ifreq(name);
    if (c.ioctl(fd, SIOCGIFMTU, 'void *', ifr) < 0)
      throw new Error(`reading the MTU of ${name}: ${strerror(koffi.errno())}`);
    return ifr.readInt32LE(IFNAMSIZ);
  } finally {
    c.close(fd);
  }
}

export interface MtuWatch {
  close(): void;
}

/**
 * Calls `onMtu` with the MTU of the TUN device behind `tunFd` whenever a link notification may have
 * changed it (and it did change), wherever the device went. `initial` is the MTU it has now.
 */
export function watchLinkMtu(
  tunFd: number,
  initial: number,
  onMtu: (mtu: number) => void,
  log: (line: string) => void,
): MtuWatch {
  const c = libc();
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new Error(`netlink socket: ${strerror(koffi.errno())}`);
  const address = Buffer.alloc(SOCKADDR_NL_SIZE);
  address.writeUInt16LE(AF_NETLINK, 0);
  address.writeUInt32LE(RTMGRP_LINK, 8);
  if (c.bind(fd, address, SOCKADDR_NL_SIZE) < 0) {
    const errno = koffi.errno();
    c.close(fd);
    throw new Error(`netlink bind: ${strerror(errno)}`);
  }
  // Without it (an old kernel) only this namespace's changes are heard.
  c.setsockopt(fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, new Int32Array([1]), 4);

  const ownNamespace = readlinkSync('/proc/thread-self/ns/net');
  const own = c.open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC);
  // A socket in the namespace the device was last seen in, for SIOCGIFMTU.
  let probe: { namespace: string; fd: number } | null = null;
  let mtu = initial;
  let lastProblem = '';
  const problem = (text: string): void => {
    if (text !== lastProblem) log(`following the link's MTU: ${text}`);
    lastProblem = text;
  };

  /** A datagram socket in namespace `nsFd` (this thread enters it for the one call, then returns). */
  const socketIn = (namespace: string, nsFd: number): number => {
    if (namespace === ownNamespace) return c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    // Without a way back (this namespace's fd), never leave it.
    if (own < 0) return -EBADF;
    if (setns(nsFd, CLONE_NEWNET) < 0) return -koffi.errno();
    const socket = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const errno = koffi.errno();
    // Back at once: nothing else runs on this thread in between. Failing that, nothing is safe.
    if (setns(own, CLONE_NEWNET) < 0)
      throw new Error(`cannot return to this namespace: ${strerror(koffi.errno())}`);
    return socket < 0 ? -errno : socket;
  };

  const currentMtu = (): number | null => {
    const ifr = Buffer.alloc(IFREQ_SIZE);
    if (c.ioctl(tunFd, TUNGETIFF, 'void *', ifr) < 0) return null; // closed or deleted
    const nsFd = c.ioctl(tunFd, TUNGETDEVNETNS, 'unsigned long', 0);
    let namespace = ownNamespace;
    try {
      if (nsFd >= 0) namespace = readlinkSync(`/proc/self/fd/${nsFd}`);
      if (probe?.namespace !== namespace) {
        if (probe) c.close(probe.fd);
        probe = null;
        const socket = socketIn(namespace, nsFd);
        if (socket < 0) {
          problem(`no socket in the link's namespace ${namespace}: ${strerror(-socket)}`);
          return null;
        }
        probe = { namespace, fd: socket };
      }
    } finally {
      if (nsFd >= 0) c.close(nsFd);
    }
    if (c.ioctl(probe.fd, SIOCGIFMTU, 'void *', ifr) < 0) {
      problem(`SIOCGIFMTU: ${strerror(koffi.errno())}`);
      return null;
    }
    return ifr.readInt32LE(IFNAMSIZ);
  };

  let pending: NodeJS.Immediate | null = null;
  const check = (): void => {
    pending = null;
    const now = currentMtu();
    if (now === null || now === mtu) return;
    mtu = now;
    onMtu(now);
  };

  const buffer = Buffer.allocUnsafe(64 * 1024);
  let poll: PollHandle | undefined = watchReadable(fd, () => {
    // What changed is asked of the device itself, so the notifications are only read and dropped;
    // an overrun (ENOBUFS) means some were lost, which a check covers as well.
    for (;;) {
      const n = c.read(fd, buffer, buffer.length);
      if (n > 0) continue;
      if (n === 0 || koffi.errno() !== EINTR) break;
    }
    pending ??= setImmediate(check);
  });

  return {
    close() {
      if (!poll) return;
      poll.close();
      poll = undefined;
      if (pending) clearImmediate(pending);
      c.close(fd);
      if (own >= 0) c.close(own);
      if (probe) c.close(probe.fd);
    },
  };
}
