// macOS TUN: a utun interface, the kernel control com.apple.net.utun_control, as wireguard-go's
// tun_darwin.go makes it: socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL), CTLIOCGINFO for the
// control's id, connect() with a sockaddr_ctl (unit 0: the kernel picks the first free utunN), and
// getsockopt(UTUN_OPT_IFNAME) for the name it got. Every packet on the fd carries a 4-byte header,
// the address family in network order. The fd is non-blocking and polled by libuv (kqueue) on the
// main loop; writes are made one by one (the batching and GRO of tun_linux.ts are Linux offloads).
// macOS chooses the name, so the tunnel's own name (what the user, the UAPI socket and the journal
// call it) is mapped to the utun in routes_darwin.ts, and written to /var/run/wireguard/NAME.name as
// wg-quick does. The MTU is set with SIOCSIFMTU and followed by polling SIOCGIFMTU.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import koffi from 'koffi';
import { PhantomError } from '../../../shared/src/errors.ts';
import {
  AF_INET,
  cString,
  CTLIOCGINFO,
  ctlInfo,
  ctlInfoId,
  EACCES,
  EAGAIN,
  EINTR,
  EPERM,
  frameUtun,
  ifreqMtu,
  ifreqMtuOf,
  IFNAMSIZ,
  libcDarwin,
  type LibcDarwin,
  makeNonBlocking,
  PF_SYSTEM,
  type PollHandle,
  SIOCGIFMTU,
  SIOCSIFMTU,
  SOCK_DGRAM,
  sockaddrCtl,
  SOCKADDR_CTL_SIZE,
  strerrorDarwin,
  SYSPROTO_CONTROL,
  UTUN_CONTROL_NAME,
  UTUN_HEADER_SIZE,
  UTUN_OPT_IFNAME,
  watchFd,
} from '../libc_darwin.ts';
import { forgetUtun, registerUtun } from '../routes_darwin.ts';
import type { Tun, TunOptions } from './tun.ts';

const MAX_PACKET = 65535;
const READ_BATCH = 128;
const MTU_POLL_MS = 2000;
const UAPI_DIR = '/var/run/wireguard';

/** Whether an MTU is one a utun takes. */
export function checkUtunMtu(mtu: number): void {
  if (!(Number.isInteger(mtu) && mtu >= 68 && mtu <= 16384))
    throw new PhantomError('TUN_MTU_INVALID', `MTU ${mtu} is not a number from 68 to 16384`);
}

function ioctlMtu(c: LibcDarwin, name: string, set?: number): number {
  const fd = c.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw new PhantomError('TUN_OPEN_FAILED', `socket: ${strerrorDarwin(koffi.errno())}`);
  try {
    const ifr = ifreqMtu(name, set ?? 0);
    if (c.ioctl(fd, set === undefined ? SIOCGIFMTU : SIOCSIFMTU, ifr) < 0)
      throw new PhantomError(
        'TUN_OPEN_FAILED',
        `${set === undefined ? 'reading' : 'setting'} the MTU of ${name}: ${strerrorDarwin(koffi.errno())}`,
      );
    return set ?? ifreqMtuOf(ifr);
  } finally {
    c.close(fd);
  }
}

export function openTunDarwin(name: string, options: TunOptions = {}): Tun {
  if (options.mtu !== undefined) checkUtunMtu(options.mtu);
  const c = libcDarwin();
  const fd = c.socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL);
  if (fd < 0) {
    const errno = koffi.errno();
    throw new PhantomError(
      errno === EPERM || errno === EACCES ? 'PERMISSION_DENIED' : 'TUN_UNAVAILABLE',
      `creating a utun for ${name}: socket(PF_SYSTEM): ${strerrorDarwin(errno)}`,
    );
  }
  const fail = (step: string, errno = koffi.errno()): never => {
    c.close(fd);
    throw new PhantomError(
      errno === EPERM || errno === EACCES ? 'PERMISSION_DENIED' : 'TUN_OPEN_FAILED',
      `creating a utun for ${name} (needs root): ${step}: ${strerrorDarwin(errno)}`,
    );
  };
  const info = ctlInfo(UTUN_CONTROL_NAME);
  if (c.ioctl(fd, CTLIOCGINFO, info) < 0) fail('CTLIOCGINFO');
  if (c.connect(fd, sockaddrCtl(ctlInfoId(info), 0), SOCKADDR_CTL_SIZE) < 0) fail('connect');
  const nameBuffer = new Uint8Array(IFNAMSIZ);
  if (c.getsockopt(fd, SYSPROTO_CONTROL, UTUN_OPT_IFNAME, nameBuffer, new Uint32Array([IFNAMSIZ])) < 0)
    fail('UTUN_OPT_IFNAME');
  if (makeNonBlocking(c, fd) !== 0) fail('fcntl');
  const utun = cString(nameBuffer);
  let mtu: number;
  try {
    mtu = options.mtu !== undefined ? ioctlMtu(c, utun, options.mtu) : ioctlMtu(c, utun);
  } catch (error) {
    c.close(fd);
    throw error;
  }
  registerUtun(name, utun);
  try {
    mkdirSync(UAPI_DIR, { recursive: true, mode: 0o755 });
    writeFileSync(`${UAPI_DIR}/${name}.name`, `${utun}\n`, { mode: 0o644 });
  } catch {
    // Informational only (wg-quick's map); the helper keeps its own.
  }
  return new DarwinTun(name, utun, fd, c, mtu);
}

class DarwinTun implements Tun {
  readonly name: string;
  readonly closed: Promise<string>;
  #tunnel: string;
  #fd: number;
  #libc: LibcDarwin;
  #mtu: number;
  #poll: PollHandle | undefined;
  #mtuTimer: NodeJS.Timeout | undefined;
  #buffer = Buffer.allocUnsafe(UTUN_HEADER_SIZE + MAX_PACKET);
  #frame = Buffer.allocUnsafe(UTUN_HEADER_SIZE + MAX_PACKET);
  #onPacket: ((packet: Buffer) => void) | undefined;
  #resolveClosed!: (reason: string) => void;

  constructor(tunnel: string, utun: string, fd: number, c: LibcDarwin, mtu: number) {
    this.#tunnel = tunnel;
    this.name = utun;
    this.#fd = fd;
    this.#libc = c;
    this.#mtu = mtu;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get mtu(): number {
    return this.#mtu;
  }

  start(
    onPacket: (packet: Buffer) => void,
    _onWriteFailures?: (count: number) => void,
    onMtu?: (mtu: number) => void,
  ): void {
    if (this.#fd < 0) throw new PhantomError('TUN_CLOSED', `TUN interface ${this.name} is closed`);
    if (this.#onPacket)
      throw new PhantomError('TUN_STARTED', `TUN interface ${this.name} is already started`);
    this.#onPacket = onPacket;
    this.#poll = watchFd(this.#fd, { readable: true }, this.#onReadable);
    // No notification of MTU changes reaches a utun's fd: polled, as cheap as one ioctl.
    this.#mtuTimer = setInterval(() => {
      if (this.#fd < 0) return;
      try {
        const mtu = ioctlMtu(this.#libc, this.name);
        if (mtu !== this.#mtu) {
          this.#mtu = mtu;
          onMtu?.(mtu);
        }
      } catch {
        // Gone: the reader reports it.
      }
    }, MTU_POLL_MS);
    this.#mtuTimer.unref();
  }

  #onReadable = (status: number): void => {
    if (status < 0) return this.#shut(`interface ${this.name} is gone`);
    const onPacket = this.#onPacket!;
    const buffer = this.#buffer;
    for (let i = 0; i < READ_BATCH && this.#fd >= 0; i++) {
      const n = this.#libc.read(this.#fd, buffer, buffer.length);
      if (n > UTUN_HEADER_SIZE) {
        onPacket(buffer.subarray(UTUN_HEADER_SIZE, n));
        continue;
      }
      if (n >= 0) continue;
      const errno = koffi.errno();
      if (errno === EAGAIN) return;
      if (errno === EINTR) continue;
      return this.#shut(`reading ${this.name} failed: ${strerrorDarwin(errno)}`);
    }
  };

  write(packet: Uint8Array): boolean {
    if (this.#fd < 0) return false;
    const length = frameUtun(this.#frame, packet);
    if (length === 0) return false;
    // A full queue (EAGAIN, ENOBUFS) drops the packet, as the kernel would.
    return this.#libc.write(this.#fd, this.#frame, length) === length;
  }

  close(): Promise<void> {
    this.#shut('closed');
    return this.closed.then(() => {});
  }

  #shut(reason: string): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    this.#poll?.close();
    this.#poll = undefined;
    clearInterval(this.#mtuTimer);
    // Closing the control socket deletes the utun, with its addresses and routes.
    this.#libc.close(fd);
    forgetUtun(this.#tunnel);
    rmSync(`${UAPI_DIR}/${this.#tunnel}.name`, { force: true });
    this.#resolveClosed(reason);
  }
}
