// Per-source token buckets for handshake messages while the device is under load, with the numbers of
// wireguard-go's and the kernel's ratelimiter: 20 packets a second, bursts of 5. Tokens are counted in
// milliseconds of credit. Idle buckets are swept as calls come in rather than by a timer.

const PACKETS_PER_SECOND = 20;
const PACKETS_BURSTABLE = 5;
const PACKET_COST = 1000 / PACKETS_PER_SECOND;
const MAX_TOKENS = PACKET_COST * PACKETS_BURSTABLE;
/** A bucket idle this long has refilled completely, so forgetting it changes no answer. */
const GARBAGE_COLLECT_TIME = 1000;

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = -Infinity;

  /** Whether a handshake message from `key` (its source address) may be processed at `now` (ms). */
  allow(key: string, now: number): boolean {
    if (now - this.lastSweep >= GARBAGE_COLLECT_TIME) this.sweep(now);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      this.buckets.set(key, { tokens: MAX_TOKENS - PACKET_COST, last: now });
      return true;
    }
    bucket.tokens = Math.min(MAX_TOKENS, bucket.tokens + now - bucket.last);
    bucket.last = now;
    // The kernel's comparison: exactly one packet's worth of tokens is enough.
    if (bucket.tokens < PACKET_COST) return false;
    bucket.tokens -= PACKET_COST;
    return true;
  }

  /** Sources with a bucket. */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.last > GARBAGE_COLLECT_TIME) this.buckets.delete(key);
    }
  }
}
