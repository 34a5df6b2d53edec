// RFC 6479 anti-replay window with the geometry of the kernel and wireguard-go: a ring of 128 blocks of
// 64 bits. The block holding the greatest counter is always partly in the future, so the window that is
// really remembered is one block short of the ring: 8128 counters.

const BLOCK_BITS = 64;
const RING_BLOCKS = 128;
const RING_BITS = BLOCK_BITS * RING_BLOCKS;
export const WINDOW_SIZE = RING_BITS - BLOCK_BITS;

// Counters this small (decades of traffic at line rate) are exact as Numbers, which spares the per-packet
// path any BigInt arithmetic and the allocations that come with it.
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);
const RING_BITS_BIG = BigInt(RING_BITS);
const POSITION_MASK_BIG = RING_BITS_BIG - 1n;

export class ReplayFilter {
  private last = 0n;
  private lastPosition = 0;
  private readonly ring = new Uint32Array(RING_BITS / 32);

  reset(): void {
    this.last = 0n;
    this.lastPosition = 0;
    this.ring.fill(0);
  }

  /** Marks `counter` as received; false when it is a replay, too old, or not below `limit`. */
  validateCounter(counter: bigint, limit: bigint): boolean {
    if (counter >= limit) return false;
    // delta = counter - last, clamped to ±RING_BITS where only "a whole ring or more" matters.
    let delta: number;
    let position: number;
    if (counter <= MAX_EXACT && this.last <= MAX_EXACT) {
      const n = Number(counter);
      delta = Math.max(-RING_BITS, Math.min(RING_BITS, n - Number(this.last)));
      position = n % RING_BITS;
    } else {
      const d = counter - this.last;
      delta = d >= RING_BITS_BIG ? RING_BITS : d <= -RING_BITS_BIG ? -RING_BITS : Number(d);
      position = Number(counter & POSITION_MASK_BIG);
    }

    const ring = this.ring;
    if (delta > 0) {
      // Blocks the window slides over held counters a whole ring older; they start empty again.
      const lastBlock = this.lastPosition >>> 6;
      const blocks = ((this.lastPosition + delta) >>> 6) - lastBlock;
      for (let i = 1; i <= blocks; i++) {
        const word = ((lastBlock + i) % RING_BLOCKS) * 2;
        ring[word] = 0;
        ring[word + 1] = 0;
      }
      this.last = counter;
      this.lastPosition = position;
    } else if (-delta > WINDOW_SIZE) {
      return false;
    }

    const word = position >>> 5;
    const bit = 1 << (position & 31);
    const old = ring[word];
    if (old & bit) return false;
    ring[word] = old | bit;
    return true;
  }
}
