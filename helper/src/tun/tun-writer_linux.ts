// The TUN half of the writer thread (see datapath/packet-writer.ts), taken out of the thread's own module so
// that datapath/ never imports tun/: tun_linux.ts hands this module to the thread as its ring's
// `handler`. One write() per TCP super-packet (gro_linux.ts) or other packet on the TUN fd.

import koffi from 'koffi';
import type { RingEntry } from '../datapath/ring.ts';
import type { RingHandler, RingHandlerFactory } from '../datapath/packet-writer.ts';
import { EINTR, libc } from '../libc_linux.ts';
import { TcpCoalescer } from './gro_linux.ts';

export class TunWriter implements RingHandler {
  #fd: number;
  #onFailed: (errno: number, packets: number) => void;
  #tcp = new TcpCoalescer();
  #write = libc().write;

  constructor(fd: number, onFailed: (errno: number, packets: number) => void) {
    this.#fd = fd;
    this.#onFailed = onFailed;
  }

  /** Each packet arrives behind room for its virtio_net_hdr (the ring's headroom). */
  add(entry: RingEntry): void {
    this.#tcp.add(entry.packet, this.#writeFrame);
  }

  flush(): void {
    this.#tcp.flush(this.#writeFrame);
  }

  #writeFrame = (frame: Uint8Array): void => {
    for (;;) {
      if (this.#write(this.#fd, frame, frame.length) === frame.length) return;
      const errno = koffi.errno();
      if (errno !== EINTR) return this.#onFailed(errno, 1);
    }
  };
}

/** What the writer thread makes of a TUN ring: its one fd is the TUN device. */
export const createRingHandler: RingHandlerFactory = (fds, onFailed) => new TunWriter(fds[0]!, onFailed);
