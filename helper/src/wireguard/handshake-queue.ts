// The handshake queue (wireguard-go's device.queue.handshake): initiations, responses and cookie
// replies wait here instead of being processed on the data path, so that a flood of them costs the
// data path one copy each, never X25519. It is bounded and drops what does not fit, the way
// wireguard-go's channel does; the runner drains it in slices between batches of transport data.
// Slots are allocated once: a full queue under a flood allocates nothing.

import type { Endpoint } from '../../../shared/src/ip.ts';
import { HANDSHAKE_QUEUE_SIZE, MESSAGE_INITIATION_SIZE, UNDER_LOAD_QUEUE_SIZE } from './constants.ts';

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
  private readonly memory: Buffer;
  private readonly slots: QueuedHandshake[];
  private head = 0;
  private count = 0;

  constructor(capacity = HANDSHAKE_QUEUE_SIZE, underLoadLength = Math.min(UNDER_LOAD_QUEUE_SIZE, capacity)) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}`);
    this.capacity = capacity;
    this.underLoadLength = underLoadLength;
    this.memory = Buffer.alloc(capacity * MESSAGE_INITIATION_SIZE);
    this.slots = Array.from({ length: capacity }, () => ({
      packet: this.memory.subarray(0, 0),
      from: { address: '', port: 0, family: 4 } as Endpoint,
      received: 0,
    }));
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
    const start = index * MESSAGE_INITIATION_SIZE;
    this.memory.set(packet, start);
    const slot = this.slots[index]!;
    slot.packet = this.memory.subarray(start, start + packet.length);
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
    return slot;
  }

  /** Forgets everything waiting (wiped: initiations carry encrypted identities). */
  clear(): void {
    this.memory.fill(0);
    this.head = 0;
    this.count = 0;
  }
}
