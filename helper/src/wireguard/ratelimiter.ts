// Per-source-IP token buckets for handshake messages while under load (wireguard-go ratelimiter):
// 20 packets per second with a burst of 5; idle entries are swept as calls come in, no timers.

const PACKETS_PER_SECOND = 20;
const PACKETS_BURSTABLE = 5;
const PACKET_COST = 1000 / PACKETS_PER_SECOND;
const MAX_TOKENS = PACKET_COST * PACKETS_BURSTABLE;
const IDLE_AFTER = 1000;

interface Bucket {
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = -Infinity;

  allow(key: string, now: number): boolean {
    if (now - this.lastSweep >= IDLE_AFTER) this.sweep(now);
    const bucket = this.buckets.get(key);
    if (!bucket) {
      this.buckets.set(key, { tokens: MAX_TOKENS - PACKET_COST, last: now });
      return true;
    }
    bucket.tokens = Math.min(MAX_TOKENS, bucket.tokens + (now - bucket.last));
    bucket.last = now;
    if (bucket.tokens < PACKET_COST) return false;
    bucket.tokens -= PACKET_COST;
    return true;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.last > IDLE_AFTER) this.buckets.delete(key);
  }
}
