// Who may hold a connection: at most `maxClients` at a time in all, and at most `maxPerIp` from one
// source address, so that one host cannot take every slot. Decided when the TCP connection is
// accepted, before any TLS or HTTP work is done for it; the slot is given back when it closes.
//
// Loopback sources are not limited per address: behind a reverse proxy on the same machine (nginx in
// front of ws://) every client arrives from 127.0.0.1 or ::1, and the proxy is where per-client limits
// belong. The global limit still holds.

import type { RejectReason } from './counters.ts';

export class Admission {
  private readonly maxClients: number;
  private readonly maxPerIp: number;
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(maxClients: number, maxPerIp: number) {
    this.maxClients = maxClients;
    this.maxPerIp = maxPerIp;
  }

  get current(): number {
    return this.total;
  }

  /** Takes a slot for a connection from `ip`, or says why not. */
  admit(ip: string): RejectReason | undefined {
    if (this.total >= this.maxClients) return 'max-clients';
    const key = normalize(ip);
    const held = this.perIp.get(key) ?? 0;
    if (!isLoopback(key) && held >= this.maxPerIp) return 'per-ip';
    this.perIp.set(key, held + 1);
    this.total += 1;
    return undefined;
  }

  /** Gives back the slot `admit(ip)` took. */
  release(ip: string): void {
    const key = normalize(ip);
    const held = this.perIp.get(key);
    if (held === undefined) return;
    if (held <= 1) this.perIp.delete(key);
    else this.perIp.set(key, held - 1);
    this.total -= 1;
  }
}

/** An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: the same host as a.b.c.d. */
function normalize(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip.toLowerCase();
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}
