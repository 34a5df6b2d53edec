// Our receiver indices: random u32s, so that they tell an observer nothing about how many sessions we
// have had, each naming a handshake in flight or a keypair. Zero is as good an index as any.

import { randomBytes } from './crypto.ts';

export class IndexTable<T> {
  private readonly entries = new Map<number, T>();
  /** Random bytes drawn in bulk: a handshake flood allocates an index per response. */
  private pool: Buffer = Buffer.alloc(0);

  allocate(value: T): number {
    for (;;) {
      if (this.pool.length < 4) this.pool = randomBytes(256);
      const index = this.pool.readUInt32LE(0);
      this.pool = this.pool.subarray(4);
      if (!this.entries.has(index)) {
        this.entries.set(index, value);
        return index;
      }
    }
  }

  get(index: number): T | undefined {
    return this.entries.get(index);
  }

  delete(index: number): void {
    this.entries.delete(index);
  }

  get size(): number {
    return this.entries.size;
  }
}
