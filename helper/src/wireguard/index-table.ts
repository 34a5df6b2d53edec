// Our side of the receiver indices: random u32s so they reveal nothing about how many sessions we
// have, each naming a handshake in flight or a keypair.

import { randomBytes } from 'node:crypto';

export class IndexTable<T> {
  private readonly entries = new Map<number, T>();
  private pool = randomBytes(0);

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
