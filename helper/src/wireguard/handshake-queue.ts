// The handshake queue (wireguard-go's device.queue.handshake): initiations, responses and cookie
// replies wait here instead of being processed on the data path, so that a flood of them costs the
// data path one copy each, never X25519. It is bounded and drops what does not fit, the way
// wireguard-go's channel does; the runner drains it in slices between batches of transport data.
// Slots are made when first needed, a chunk at a time, and kept: a queue that never holds more than a
// few messages (every tunnel but one under a flood) costs one chunk, not 1024 slots (~300 KB a device,
// which the start-up warm-up's throwaway devices used to leave in the helper's RSS), and a flood that
// has filled it once allocates no more slot memory.

import type { Endpoint } from '../../../shared/src/ip.ts';
import { HANDSHAKE_QUEUE_SIZE, MESSAGE_INITIATION_SIZE, UNDER_LOAD_QUEUE_SIZE } from './constants.ts';

/** Slots per chunk of message memory (9.25 KB). */
const CHUNK_SLOTS = 64;
const NO_ENDPOINT: Endpoint = { address: '', port: 0, family: 4 };

export interface QueuedHandshake {
  /** Valid until the next push that reuses its slot: process it before handing control back. */
  packet: Buffer;
  from: Endpoint;
  /** When it arrived (the device's monotonic clock). */
  received: number;
}

export class HandshakeQueue {
  readonly capacity: number;
  /** At or above this length the device is under load (wireguard-go: a eighth of the queue). */
  readonly underLoadLength: number;
  /** Message memory, CHUNK_SLOTS slots a chunk, made as the queue first reaches them. */
  private readonly chunks: Buffer[] = [];
  private readonly slots: QueuedHandshake[] = [];
  private head = 0;
  private count = 0;

  constructor(capacity = HANDSHAKE_QUEUE_SIZE, underLoadLength = Math.min(UNDER_LOAD_QUEUE_SIZE, capacity)) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.capacity = capacity;
    this.underLoadLength = underLoadLength;
  }

  /** Slots made so far (for tests: how far the queue has ever filled, rounded up to a chunk). */
  get allocatedSlots(): number {
    return this.chunks.length * CHUNK_SLOTS;
  }

  get length(): number {
    return this.count;
  }

  get underLoad(): boolean {
    return this.count >= this.underLoadLength;
  }

  /** Copies `packet` (at most MESSAGE_INITIATION_SIZE bytes) in; false when the queue is full. */
  push(packet: Uint8Array, from: Endpoint, now: number): boolean {
    if (this.count === this.capacity || packet.length > MESSAGE_INITIATION_SIZE) return false;
    const index = (this.head + this.count) % this.capacity;
    const chunkIndex = Math.floor(index / CHUNK_SLOTS);
    // The ring is used from slot 0 up (shift() starts it over whenever it empties), so chunks are
    // reached in order.
    while (this.chunks.length <= chunkIndex)
      this.chunks.push(Buffer.alloc(CHUNK_SLOTS * MESSAGE_INITIATION_SIZE));
    const chunk = this.chunks[chunkIndex]!;
    const start = (index % CHUNK_SLOTS) * MESSAGE_INITIATION_SIZE;
    chunk.set(packet, start);
    while (this.slots.length <= index)
      this.slots.push({ packet: chunk.subarray(0, 0), from: NO_ENDPOINT, received: 0 });
    const slot = this.slots[index]!;
    slot.packet = chunk.subarray(start, start + packet.length);
    slot.from = from;
    slot.received = now;
    this.count++;
    return true;
  }

  /** The oldest message, or undefined; its slot may be reused by the next push. */
  shift(): QueuedHandshake | undefined {
    if (this.count === 0) return undefined;
    const slot = this.slots[this.head]!;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    // Emptied: start over at slot 0, so that a queue that never holds more than a few messages keeps
    // to its first chunk instead of walking the whole ring.
    if (this.count === 0) this.head = 0;
    return slot;
  }

  /** Forgets everything waiting (wiped: initiations carry encrypted identities). */
  clear(): void {
    for (const chunk of this.chunks) chunk.fill(0);
    this.head = 0;
    this.count = 0;
  }
}
