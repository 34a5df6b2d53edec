// TUN writes, the handler of the TUN's PacketWriter (datapath/packet-writer.ts): one write() per TCP
// super-packet (gro_linux.ts) or other packet on the TUN fd.

import koffi from 'koffi';
import type { OutgoingPacket, PacketHandler } from '../datapath/packet-writer.ts';
import { EINTR, libc } from '../libc_linux.ts';
import { TcpCoalescer } from './gro_linux.ts';

export class TunWriter implements PacketHandler {
  #fd: number;
  #onFailed: (errno: number, packets: number) => void;
  #tcp = new TcpCoalescer();
  #write = libc().write;

  constructor(fd: number, onFailed: (errno: number, packets: number) => void) {
    this.#fd = fd;
    this.#onFailed = onFailed;
  }

  /** Each packet arrives behind room for its virtio_net_hdr (the writer's headroom). */
  add(entry: OutgoingPacket): void {
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
