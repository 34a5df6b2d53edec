// Linux TUN through /dev/net/tun with libc called by koffi: open + TUNSETIFF give a non-blocking fd
// that libuv polls on the main loop for reading. The packets one UDP batch brings are written together
// at its end (PacketWriter), TCP segments joined into super-packets: the kernel runs the inner
// protocol's receive path (TCP included) inside write(), once per super-packet instead of per segment.
// IFF_NO_PI drops the protocol prefix; IFF_VNET_HDR puts a virtio_net_hdr in front of every packet
// instead, which lets the kernel hand us TCP super-packets to segment (offload_linux.ts).

import koffi from 'koffi';
import {
  EACCES,
  EAGAIN,
  EBADFD,
  EBUSY,
  EINTR,
  EINVAL,
  ENODEV,
  ENOENT,
  ENXIO,
  EPERM,
  libc,
  type Libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  type PollHandle,
  strerror,
  watchReadable,
} from '../libc_linux.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { batchWrites, PacketWriter } from '../datapath/packet-writer.ts';
import { TunWriter } from './tun-writer_linux.ts';
import { getLinkMtu, MAX_MTU, setLinkMtu, watchLinkMtu, type MtuWatch } from './link-mtu_linux.ts';
import { splitOffloaded, VIRTIO_NET_HDR_SIZE } from './offload_linux.ts';
import type { Tun, TunOptions } from './tun.ts';
import { monotonicMs } from '../clock.ts';

const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const TUNSETOFFLOAD = 0x400454d0;
// Checksums left to us, and TCP segmentation over IPv4 and IPv6 (with ECN).
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const TUN_F_TSO_ECN = 0x08;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;

// A TUN's MTU and a TCP super-packet are at most 65535 bytes, plus the header.
const MAX_PACKET = 65535;
const MAX_READ = VIRTIO_NET_HDR_SIZE + MAX_PACKET;
const UNUSABLE_LOG_INTERVAL_MS = 10_000;
// Packets read per readiness callback before yielding to the event loop, so a flood from the OS cannot
// starve the UDP side. libuv polls level-triggered, so whatever is left is reported again at once.
const READ_BATCH = 128;
// Packets up to this size are queued for their batch's end (any MTU up to 2000); bigger ones are
// written at once, which keeps jumbo MTUs working without a 64 KB staging buffer.
const QUEUED_WRITE_MAX = 2000;

// The kernel's dev_valid_name(), plus '%': TUNSETIFF would treat "tun%d" as a template and pick a
// name of its own.
function checkName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes >= IFNAMSIZ)
    throw new PhantomError(
      'TUN_NAME_INVALID',
      `interface name "${name}" must be 1 to ${IFNAMSIZ - 1} bytes long (it is ${bytes})`,
    );
  if (name === '.' || name === '..' || /[/:%\s\0]/.test(name))
    throw new PhantomError(
      'TUN_NAME_INVALID',
      `interface name "${name}" is not valid (no "/", ":", "%" or whitespace, not "." or "..")`,
    );
}

function openError(name: string, step: string, errno: number): PhantomError {
  switch (errno) {
    case EPERM:
    case EACCES:
      return new PhantomError(
        'PERMISSION_DENIED',
        `creating TUN interface ${name} needs root (CAP_NET_ADMIN): ${step}: ${strerror(errno)}`,
      );
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return new PhantomError(
        'TUN_UNAVAILABLE',
        `/dev/net/tun is missing or has no driver (is the tun module loaded?): ${strerror(errno)}`,
      );
    case EBUSY:
    case EINVAL:
      // Someone created the name between our check and TUNSETIFF (EBUSY: a TUN in use, EINVAL: not a TUN).
      return new PhantomError('TUN_NAME_TAKEN', `a network interface named ${name} already exists`);
    default:
      return new PhantomError(
        'TUN_OPEN_FAILED',
        `opening TUN interface ${name}: ${step}: ${strerror(errno)}`,
      );
  }
}

/**
 * A non-blocking fd of a new TUN interface `name` (IFF_TUN, no protocol prefix); with `virtioHeader`,
 * each packet comes and goes behind a virtio_net_hdr. The caller checks the name first.
 */
export function createTunFd(name: string, { virtioHeader }: { virtioHeader: boolean }): number {
  const c = libc();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw openError(name, 'open /dev/net/tun', koffi.errno());
  const ifr = Buffer.alloc(IFREQ_SIZE);
  ifr.write(name, 0, 'utf8');
  // ifr_flags: host order, little-endian on our targets
  ifr.writeUInt16LE(IFF_TUN | IFF_NO_PI | (virtioHeader ? IFF_VNET_HDR : 0), IFNAMSIZ);
  if (c.ioctl(fd, TUNSETIFF, 'void *', ifr) < 0) {
    const errno = koffi.errno();
    c.close(fd);
    throw openError(name, 'TUNSETIFF', errno);
  }
  return fd;
}

export function openTunLinux(name: string, options: TunOptions = {}): Tun {
  checkName(name);
  if (
    options.mtu !== undefined &&
    !(Number.isInteger(options.mtu) && options.mtu >= 68 && options.mtu <= MAX_MTU)
  )
    throw new PhantomError('TUN_MTU_INVALID', `MTU ${options.mtu} is not a number from 68 to ${MAX_MTU}`);
  const c = libc();
  // TUNSETIFF silently attaches to an existing persistent TUN of that name, so refuse existing names
  // first. if_nametoindex asks the current network namespace; /sys/class/net would show the namespace
  // sysfs was mounted in, which differs under `unshare -n`.
  if (c.if_nametoindex(name) !== 0)
    throw new PhantomError('TUN_NAME_TAKEN', `a network interface named ${name} already exists`);

  const fd = createTunFd(name, { virtioHeader: true });
  // Without it (a kernel that refuses) the header stays, asking for nothing: packets come one by one.
  c.ioctl(fd, TUNSETOFFLOAD, 'unsigned long', TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
  let mtu: number;
  try {
    // As wireguard-go's CreateTUN(name, mtu): the link starts with the device's MTU, not the kernel's 1500.
    if (options.mtu !== undefined) setLinkMtu(name, options.mtu);
    mtu = options.mtu ?? getLinkMtu(name);
  } catch (error) {
    c.close(fd);
    throw new PhantomError('TUN_OPEN_FAILED', `opening TUN interface ${name}: ${(error as Error).message}`);
  }
  return new LinuxTun(name, fd, c, mtu);
}

class LinuxTun implements Tun {
  readonly name: string;
  readonly closed: Promise<string>;
  #fd: number;
  #libc: Libc;
  #poll: PollHandle | undefined;
  #buffer = Buffer.allocUnsafe(MAX_READ);
  // Where TCP super-packets are cut into segments.
  #scratch = Buffer.allocUnsafe(MAX_PACKET);
  #unusableReads = 0;
  #lastUnusableLog = -Infinity;
  #onPacket: ((packet: Buffer) => void) | undefined;
  #onWriteFailures: ((count: number) => void) | undefined;
  #mtu: number;
  #mtuWatch: MtuWatch | undefined;
  #writer: PacketWriter;
  #resolveClosed!: (reason: string) => void;

  constructor(name: string, fd: number, c: Libc, mtu: number) {
    this.name = name;
    this.#fd = fd;
    this.#libc = c;
    this.#mtu = mtu;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#writer = new PacketWriter(
      new TunWriter(fd, (_errno, packets) => this.#onWriteFailures?.(packets)),
      QUEUED_WRITE_MAX,
      VIRTIO_NET_HDR_SIZE,
    );
  }

  get mtu(): number {
    return this.#mtu;
  }

  start(
    onPacket: (packet: Buffer) => void,
    onWriteFailures?: (count: number) => void,
    onMtu?: (mtu: number) => void,
  ): void {
    if (this.#fd < 0) throw new PhantomError('TUN_CLOSED', `TUN interface ${this.name} is closed`);
    if (this.#onPacket)
      throw new PhantomError('TUN_STARTED', `TUN interface ${this.name} is already started`);
    this.#onPacket = onPacket;
    this.#onWriteFailures = onWriteFailures;
    this.#poll = watchReadable(this.#fd, this.#onReadable);
    try {
      this.#mtuWatch = watchLinkMtu(
        this.#fd,
        this.#mtu,
        (mtu) => {
          this.#mtu = mtu;
          onMtu?.(mtu);
        },
        (line) => console.error(`${this.name}: ${line}`),
      );
    } catch (error) {
      // Packets still flow; only padding keeps the MTU the link had at start.
      console.error(`${this.name}: MTU changes will not be followed: ${(error as Error).message}`);
    }
  }

  // One bound callback for the life of the device: no closure per packet or per wakeup.
  #onReadable = (status: number): void => {
    if (status < 0) {
      // Measured: after `ip link del` the next wakeup has status UV_EBADF (-9), from EPOLLERR.
      this.#shut(`interface ${this.name} was deleted`);
      return;
    }
    const { read } = this.#libc;
    const buffer = this.#buffer;
    const onPacket = this.#onPacket!;
    for (let i = 0; i < READ_BATCH && this.#fd >= 0; i++) {
      const n = read(this.#fd, buffer, MAX_READ);
      if (n > 0) {
        // A super-packet's segments are one batch: their datagrams leave in one sendmsg() where they can.
        const read = buffer.subarray(0, n);
        if (!batchWrites(() => splitOffloaded(read, this.#scratch, onPacket))) this.#unusable();
        continue;
      }
      if (n === 0) continue;
      const errno = koffi.errno();
      if (errno === EAGAIN) return;
      if (errno === EINTR) continue;
      this.#shut(
        errno === EBADFD
          ? `interface ${this.name} was deleted`
          : `reading ${this.name} failed: ${strerror(errno)}`,
      );
      return;
    }
  };

  /** The kernel handed us an offload we never enabled or a header that makes no sense: dropped. */
  #unusable(): void {
    this.#unusableReads++;
    const now = monotonicMs();
    if (now - this.#lastUnusableLog < UNUSABLE_LOG_INTERVAL_MS) return;
    this.#lastUnusableLog = now;
    console.error(`${this.name}: dropped ${this.#unusableReads} unusable offloaded reads so far`);
  }

  write(packet: Uint8Array): boolean {
    if (this.#fd < 0) return false;
    if (this.#writer.push(packet)) return true;
    // A lone packet, or too big to queue: written here, behind a header that asks for nothing. EAGAIN
    // (queue full), EIO (link down), EINVAL (not an IP packet), EBADFD (deleted): all mean the packet
    // is lost, and deletion is reported through `closed` by the reader.
    const framed = Buffer.alloc(VIRTIO_NET_HDR_SIZE + packet.length);
    framed.set(packet, VIRTIO_NET_HDR_SIZE);
    return this.#libc.write(this.#fd, framed, framed.length) === framed.length;
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
    this.#mtuWatch?.close();
    this.#mtuWatch = undefined;
    // What is queued is written before the fd goes. Closing the last fd of a non-persistent TUN
    // deletes the interface.
    this.#writer.stop();
    this.#libc.close(fd);
    this.#resolveClosed(reason);
  }
}
