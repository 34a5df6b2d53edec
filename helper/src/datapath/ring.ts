// A single-producer, single-consumer ring of packets in shared memory, so that the main thread can
// hand packets to the writer thread without a postMessage (a structured clone and an event-loop turn)
// per packet. The producer blocks briefly when the ring is full, which pushes back on the sender the
// way wireguard-go's bounded queues do, instead of dropping at the first burst.

/** Control words (Int32 indices). HEAD and TAIL count packets and wrap at 2^32 (compared by `| 0`). */
const HEAD = 0;
const TAIL = 1;
const STOP = 2;
/** Set by the producer right before it sleeps on a full ring. */
const PRODUCER_ASLEEP = 3;
const CONTROL_WORDS = 4;

/** Per slot: u32 length, u16 port, u8 family, a pad byte, a 16-byte address, then the packet. */
const SLOT_HEADER = 24;
const ADDRESS_OFFSET = 8;

/** How long the producer waits for room before it gives up (a stuck writer must not hang us). */
const FULL_WAIT_MS = 200;

export interface RingBuffers {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  slots: number;
  slotSize: number;
  /** Zero bytes the consumer sees in front of every packet (a header the producer never writes). */
  headroom: number;
}

/**
 * The consumer's doorbell, shared by every ring it serves: one Int32 that it sets to 1 right before
 * it sleeps, so producers pay for a wake-up (a futex call) only when it is actually asleep.
 */
export function createBell(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

export function ringBell(bell: Int32Array): void {
  if (Atomics.load(bell, 0) === 0) return;
  Atomics.store(bell, 0, 0);
  Atomics.notify(bell, 0);
}

/**
 * Shared memory for `slots` (a power of two, so indices wrap cleanly) packets of up to `capacity` bytes,
 * each handed to the consumer behind `headroom` zero bytes.
 */
export function createRing(slots: number, capacity: number, headroom = 0): RingBuffers {
  if (slots & (slots - 1)) throw new RangeError(`ring size ${slots} is not a power of two`);
  const slotSize = Math.ceil((SLOT_HEADER + headroom + capacity) / 64) * 64;
  return {
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
    data: new SharedArrayBuffer(slots * slotSize),
    slots,
    slotSize,
    headroom,
  };
}

export class RingProducer {
  readonly capacity: number;
  #control: Int32Array;
  #bell: Int32Array;
  #data: Uint8Array;
  #view: DataView;
  #slots: number;
  #slotSize: number;
  #headroom: number;
  #head = 0;

  constructor(ring: RingBuffers, bell: Int32Array) {
    this.#control = new Int32Array(ring.control);
    this.#bell = bell;
    this.#data = new Uint8Array(ring.data);
    this.#view = new DataView(ring.data);
    this.#slots = ring.slots;
    this.#slotSize = ring.slotSize;
    this.#headroom = ring.headroom;
    this.capacity = ring.slotSize - SLOT_HEADER - ring.headroom;
  }

  /**
   * Queues a copy of `packet`, with an optional destination (family 4 or 6, the address as 4 or 16
   * bytes, the port). False when the packet is too big or the consumer made no room in time.
   */
  push(packet: Uint8Array, family = 0, address?: Uint8Array, port = 0, wake = true): boolean {
    if (packet.length > this.capacity) return false;
    const control = this.#control;
    const head = this.#head;
    if (((head - Atomics.load(control, TAIL)) | 0) >= this.#slots && !this.#waitForRoom(head)) return false;
    const offset = (head & (this.#slots - 1)) * this.#slotSize;
    const view = this.#view;
    view.setUint32(offset, this.#headroom + packet.length, true);
    view.setUint16(offset + 4, port, true);
    view.setUint8(offset + 6, family);
    if (address) this.#data.set(address, offset + ADDRESS_OFFSET);
    this.#data.set(packet, offset + SLOT_HEADER + this.#headroom);
    this.#head = (head + 1) | 0;
    Atomics.store(control, HEAD, this.#head);
    if (wake) ringBell(this.#bell);
    return true;
  }

  #waitForRoom(head: number): boolean {
    // The consumer may be asleep on packets whose wake-up the caller deferred.
    ringBell(this.#bell);
    const control = this.#control;
    const deadline = performance.now() + FULL_WAIT_MS;
    for (;;) {
      Atomics.store(control, PRODUCER_ASLEEP, 1);
      if (((head - Atomics.load(control, TAIL)) | 0) < this.#slots) break;
      const left = deadline - performance.now();
      if (left <= 0) break;
      Atomics.wait(control, PRODUCER_ASLEEP, 1, left);
    }
    Atomics.store(control, PRODUCER_ASLEEP, 0);
    return ((head - Atomics.load(control, TAIL)) | 0) < this.#slots;
  }

  /** The consumer has taken everything queued (it may still be sending the last of it). */
  get drained(): boolean {
    return Atomics.load(this.#control, TAIL) === this.#head;
  }

  /** Asks the consumer to finish what is queued and let go of the ring. */
  stop(): void {
    Atomics.store(this.#control, STOP, 1);
    ringBell(this.#bell);
  }
}

/** One queued packet as the consumer sees it; the views point into shared memory, valid during the call. */
export interface RingEntry {
  packet: Uint8Array;
  family: number;
  /** The 16 address bytes of the slot (the first 4 for IPv4). */
  address: Uint8Array;
  port: number;
}

export class RingConsumer {
  #control: Int32Array;
  #data: Uint8Array;
  #view: DataView;
  #slots: number;
  #slotSize: number;
  #tail: number;
  #entry: RingEntry;

  constructor(ring: RingBuffers) {
    this.#control = new Int32Array(ring.control);
    this.#data = new Uint8Array(ring.data);
    this.#view = new DataView(ring.data);
    this.#slots = ring.slots;
    this.#slotSize = ring.slotSize;
    this.#tail = Atomics.load(this.#control, TAIL);
    this.#entry = { packet: this.#data, family: 0, address: this.#data, port: 0 };
  }

  /** Nothing queued right now. */
  get empty(): boolean {
    return Atomics.load(this.#control, HEAD) === this.#tail;
  }

  /** The producer has stopped and everything it queued is handled: the ring can be dropped. */
  get finished(): boolean {
    return Atomics.load(this.#control, STOP) !== 0 && this.empty;
  }

  /** Runs `handle` on every packet queued so far; returns how many there were. */
  drain(handle: (entry: RingEntry) => void): number {
    const control = this.#control;
    const view = this.#view;
    const entry = this.#entry;
    const head = Atomics.load(control, HEAD);
    const count = (head - this.#tail) | 0;
    while (this.#tail !== head) {
      const offset = (this.#tail & (this.#slots - 1)) * this.#slotSize;
      const length = view.getUint32(offset, true);
      entry.port = view.getUint16(offset + 4, true);
      entry.family = view.getUint8(offset + 6);
      entry.address = this.#data.subarray(offset + ADDRESS_OFFSET, offset + SLOT_HEADER);
      entry.packet = this.#data.subarray(offset + SLOT_HEADER, offset + SLOT_HEADER + length);
      handle(entry);
      this.#tail = (this.#tail + 1) | 0;
      Atomics.store(control, TAIL, this.#tail);
      if (Atomics.load(control, PRODUCER_ASLEEP) !== 0) {
        Atomics.store(control, PRODUCER_ASLEEP, 0);
        Atomics.notify(control, PRODUCER_ASLEEP);
      }
    }
    return count;
  }
}
