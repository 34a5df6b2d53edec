// The writer thread (see writer.ts): drains every registered ring into system calls, one write() per
// TCP super-packet (gro_linux.ts) or other packet on a TUN fd, one sendmsg() per batch of datagrams on
// a UDP socket (udp-sender.ts), and sleeps on the shared bell when all are empty.

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { libc } from '../libc_linux.ts';
import { RingConsumer, type RingEntry } from './ring.ts';
import { TcpCoalescer } from '../tun/gro_linux.ts';
import { UdpSender } from './udp-sender.ts';
import type { WriterReport, WriterRing, WriterSetup } from './writer.ts';

const EINTR = 4;
// Failures are reported in batches, at most this often per ring, so a dead link cannot flood the main thread.
const REPORT_INTERVAL_MS = 1000;

const { write } = libc();

const report = (message: WriterReport) => parentPort!.postMessage(message);

class Served {
  readonly consumer: RingConsumer;
  readonly handle: (entry: RingEntry) => void;
  isDone = false;
  #id: number;
  #fds: number[];
  #failures = 0;
  #errno = 0;
  #lastReport = -Infinity;
  #udp: UdpSender | null;
  #tcp: TcpCoalescer | null;

  constructor(setup: WriterRing) {
    this.#id = setup.id;
    this.#fds = setup.fds;
    this.consumer = new RingConsumer(setup.ring);
    this.#udp =
      setup.kind === 'udp'
        ? new UdpSender(setup.fds, (errno, datagrams) => this.#failed(errno, datagrams))
        : null;
    // TUN rings carry each packet behind room for its virtio_net_hdr.
    this.#tcp = setup.kind === 'tun' ? new TcpCoalescer() : null;
    this.handle = this.#udp
      ? (entry) => this.#udp!.add(entry)
      : (entry) => this.#tcp!.add(entry.packet, this.#writeTun);
  }

  /** Writes or sends what the last drain gathered. */
  afterDrain(): void {
    this.#udp?.flush();
    this.#tcp?.flush(this.#writeTun);
  }

  #writeTun = (frame: Uint8Array): void => {
    const fd = this.#fds[0]!;
    for (;;) {
      if (write(fd, frame, frame.length) === frame.length) return;
      const errno = koffi.errno();
      if (errno !== EINTR) return this.#failed(errno);
    }
  };

  #failed(errno: number, packets = 1): void {
    this.#failures += packets;
    this.#errno = errno;
    this.flush(false);
  }

  flush(force: boolean): void {
    const now = performance.now();
    if (this.#failures === 0 || (!force && now - this.#lastReport < REPORT_INTERVAL_MS)) return;
    report({ type: 'failures', id: this.#id, failures: this.#failures, errno: this.#errno });
    this.#failures = 0;
    this.#lastReport = now;
  }

  /** Reports the ring drained and stopped; returns true for the caller's bookkeeping. */
  done(): true {
    this.flush(true);
    report({ type: 'done', id: this.#id });
    this.isDone = true;
    return true;
  }
}

const { bell, rings: incoming } = workerData as WriterSetup;
let served: Served[] = [];

function acceptNewRings(): boolean {
  let accepted = false;
  for (let message = receiveMessageOnPort(incoming); message; message = receiveMessageOnPort(incoming)) {
    served.push(new Served(message.message as WriterRing));
    accepted = true;
  }
  return accepted;
}

report({ type: 'ready' });
for (;;) {
  acceptNewRings();
  let handled = 0;
  for (const ring of served) {
    handled += ring.consumer.drain(ring.handle);
    ring.afterDrain();
  }
  let anyDone = false;
  for (const ring of served) if (ring.consumer.finished) anyDone = ring.done();
  // Dropped by the flag done() set, not by looking again: a ring that finished in between would be
  // dropped unreported, and its owner would wait forever.
  if (anyDone) served = served.filter((ring) => !ring.isDone);
  if (handled > 0) continue;
  // Announce the sleep, then look again: a producer that queued before seeing the flag is caught by
  // this second look (both sides use sequentially consistent atomics).
  Atomics.store(bell, 0, 1);
  if (!acceptNewRings() && served.every((ring) => ring.consumer.empty && !ring.consumer.finished))
    Atomics.wait(bell, 0, 1);
  Atomics.store(bell, 0, 0);
}
