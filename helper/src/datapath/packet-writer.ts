// PacketWriter: what one batch of the data path produces (the segments of one TUN read, the replies to
// one recvmmsg() batch) is written when that batch ends, in one go, so that the fd's handler can join
// it: datagrams to one destination into one sendmsg() with UDP_SEGMENT (conn/udp-sender_linux.ts),
// segments of one TCP stream into one TUN write() (tun/tun-writer_linux.ts, GRO). A lone packet is
// written by its caller at once, which keeps pings and handshakes on the shortest path.
//
// These writes used to happen on a writer thread fed by shared-memory rings, which paid when every
// packet was a system call of its own. With the calls batched, the thread's hand-off no longer did:
// written here at the end of each batch, throughput measured the same and peak RSS ~11 MB lower (a
// thread is a whole V8 isolate; docs/performance.md has the A/B).
//
// tun/ and conn/ use this module; it uses neither.

import { monotonicMs } from '../clock.ts';

/** One packet for a handler. Its views are valid only during the call: a handler copies what it keeps. */
export interface OutgoingPacket {
  packet: Uint8Array;
  /** 4 or 6, and the destination's address (4 or 16 bytes) and port: for UDP; 0 and empty for a TUN. */
  family: number;
  address: Uint8Array;
  port: number;
}

/** Turns an fd's packets into system calls: `add` each as it comes, then `flush` at the batch's end. */
export interface PacketHandler {
  add(packet: OutgoingPacket): void;
  flush(): void;
}

// A packet that comes this long after the one before, with nothing queued, is the caller's to write:
// it has nothing to be joined with. Packets of a stream come microseconds apart.
const SPARSE_GAP_MS = 1;
const EMPTY: Uint8Array = new Uint8Array(0);

let batching = 0;
let taskBatch = false;
const queued: PacketWriter[] = [];

function endBatch(): void {
  if (--batching > 0) return;
  for (const writer of queued) writer.flush();
  queued.length = 0;
}

/**
 * Runs `batch` with the writes it queues held back until it ends (the outermost batch, if nested):
 * then every writer it used writes what it gathered.
 */
export function batchWrites<T>(batch: () => T): T {
  batching++;
  try {
    return batch();
  } finally {
    endBatch();
  }
}

/**
 * Holds writes back until the current task's microtasks run: for packets that arrive as separate
 * events of one read, such as a WebSocket's messages, which `ws` emits one by one while it parses
 * a chunk of its socket. Once per task; later calls in the same task join the open batch.
 */
export function batchWritesOfThisTask(): void {
  if (taskBatch) return;
  taskBatch = true;
  batching++;
  queueMicrotask(() => {
    taskBatch = false;
    endBatch();
  });
}

export class PacketWriter {
  readonly #handler: PacketHandler;
  readonly #capacity: number;
  readonly #headroom: number;
  /** Zeros (the headroom), then the packet: for a handler that writes packets behind a header. */
  readonly #framed: Buffer | null;
  readonly #packet: OutgoingPacket = { packet: EMPTY, family: 0, address: EMPTY, port: 0 };
  #count = 0;
  #lastPush = -Infinity;
  #stopped = false;

  /**
   * `capacity`: the largest packet queued; bigger ones are the caller's to write. `headroom`: zero
   * bytes the handler gets in front of every packet (the TUN's virtio_net_hdr).
   */
  constructor(handler: PacketHandler, capacity: number, headroom = 0) {
    this.#handler = handler;
    this.#capacity = capacity;
    this.#headroom = headroom;
    this.#framed = headroom > 0 ? Buffer.alloc(headroom + capacity) : null;
  }

  /**
   * Queues the packet for the end of the batch. False when the caller has to write it itself: outside
   * a batch, a lone packet after a pause (see SPARSE_GAP_MS), too big, or the writer stopped.
   */
  push(packet: Uint8Array, family = 0, address: Uint8Array = EMPTY, port = 0): boolean {
    if (this.#stopped || batching === 0 || packet.length > this.#capacity) return false;
    const now = monotonicMs();
    const sparse = now - this.#lastPush > SPARSE_GAP_MS;
    this.#lastPush = now;
    if (sparse && this.#count === 0) return false;
    const outgoing = this.#packet;
    const framed = this.#framed;
    if (framed) {
      framed.set(packet, this.#headroom);
      outgoing.packet = framed.subarray(0, this.#headroom + packet.length);
    } else outgoing.packet = packet;
    outgoing.family = family;
    outgoing.address = address;
    outgoing.port = port;
    this.#handler.add(outgoing);
    if (this.#count++ === 0) queued.push(this);
    return true;
  }

  /** Writes what was queued (batchWrites does this when the batch ends). */
  flush(): void {
    if (this.#count === 0) return;
    this.#count = 0;
    this.#handler.flush();
  }

  /** Writes what is queued and takes no more: the fd may be closed after. */
  stop(): void {
    this.flush();
    this.#stopped = true;
  }
}
