// Which transport carries a tunnel in `--fallback` mode: UDP first, the relay when UDP goes
// unanswered, and UDP again later if it works again. A circuit breaker: UDP is the closed state,
// the relay the open one, a probe the half-open one. Pure: no I/O, no timers, no clock; the caller
// reports what WireGuard does (`handshakeSent` for our initiations and responses,
// `authenticatedReceived` for answers: responses and data, never the peer's own initiations, which
// reach us even when our UDP is blocked), calls `tick(now)` (every 100 ms) and switches the data
// path when the decision's transport changes.
// `now` is milliseconds on a monotonic clock, as for the device.
//
// Why these numbers (WireGuard's own timers, from the whitepaper section 6):
// - WireGuard retries an unanswered handshake every REKEY_TIMEOUT (5 s). A handshake unanswered for
//   UDP_HANDSHAKE_TIMEOUT_MS (10 s) has been sent twice and answered neither time: one lost packet
//   on a working but lossy path does not explain that; a firewall that drops UDP does.
// - In a session that was working, WireGuard itself decides the peer is gone when it has sent data
//   and heard nothing for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s): it then starts a handshake.
//   Silence for UDP_SILENCE_MS (15 s) plus one full REKEY_TIMEOUT for that handshake
//   (UDP_SILENT_HANDSHAKE_MS, 5 s) is therefore the earliest moment the evidence is as good as
//   WireGuard's own. UDP blocked mid-session thus moves to the relay about 20 s after the block
//   (15 s until WireGuard's handshake, 5 s for it), inside the 30 s the tunnel promises.
// - Probing UDP again costs up to PROBE_TIMEOUT_MS of lost traffic when UDP is still blocked (the
//   probe's handshake goes out on UDP instead of the relay), so probes back off: the first after
//   PROBE_FIRST_MS (60 s: a captive portal or a brief outage is usually over by then), doubling to
//   PROBE_MAX_MS (15 min: at most ~0.5 % of the time lost to probing on a network that never allows
//   UDP). Jitter in [delay/2, delay] ("equal jitter"), not full jitter: a probe must never come
//   almost at once, which would defeat the backoff, but clients on one network must not probe in
//   step.
// - A probe's handshake is answered within a round trip or not at all; PROBE_TIMEOUT_MS (5 s) is
//   WireGuard's REKEY_TIMEOUT, the time it gives a handshake itself.
// - UDP that answers a probe but fails again soon (a firewall that lets the first packets of a flow
//   through, then blocks it) would make the tunnel flap. The probe backoff is therefore only forgotten
//   after UDP has carried the tunnel for UDP_STABLE_MS (5 min); a fall back before that counts as a
//   failed probe.

export type TransportChoice = 'udp' | 'relay';

export interface FallbackDecision {
  transport: TransportChoice;
  /** When `transport` last changed (the time of the first call, at the start). */
  changedAt: number;
  /** Why it is what it is, for status lines. */
  reason: string;
  /** UDP is being tried again for one handshake; the relay takes over again if it goes unanswered. */
  probing: boolean;
  /** On the relay: when UDP will be probed. */
  nextProbeAt: number | undefined;
}

export interface FallbackTiming {
  udpHandshakeTimeoutMs: number;
  udpSilenceMs: number;
  udpSilentHandshakeMs: number;
  probeFirstMs: number;
  probeMaxMs: number;
  probeTimeoutMs: number;
  udpStableMs: number;
}

export const UDP_HANDSHAKE_TIMEOUT_MS = 10_000;
export const UDP_SILENCE_MS = 15_000;
export const UDP_SILENT_HANDSHAKE_MS = 5_000;
export const PROBE_FIRST_MS = 60_000;
export const PROBE_MAX_MS = 15 * 60_000;
export const PROBE_TIMEOUT_MS = 5_000;
export const UDP_STABLE_MS = 5 * 60_000;

export const DEFAULT_FALLBACK_TIMING: FallbackTiming = {
  udpHandshakeTimeoutMs: UDP_HANDSHAKE_TIMEOUT_MS,
  udpSilenceMs: UDP_SILENCE_MS,
  udpSilentHandshakeMs: UDP_SILENT_HANDSHAKE_MS,
  probeFirstMs: PROBE_FIRST_MS,
  probeMaxMs: PROBE_MAX_MS,
  probeTimeoutMs: PROBE_TIMEOUT_MS,
  udpStableMs: UDP_STABLE_MS,
};

export class TransportFallback {
  private readonly timing: FallbackTiming;
  private readonly random: () => number;
  private transport: TransportChoice = 'udp';
  private changedAt: number | undefined;
  private reason = 'UDP first';
  /** On UDP: the first handshake sent since the last authenticated packet on UDP. */
  private unansweredSince: number | undefined;
  /** On UDP: the last authenticated packet on UDP in this stretch (undefined: none yet). */
  private lastAuthenticated: number | undefined;
  /** On UDP after a probe: when the probe started (the stretch of UDP counts from there). */
  private udpSince: number | undefined;
  private probing = false;
  private probeStartedAt = 0;
  /** Probes that failed (or whose UDP did not last UDP_STABLE_MS) since UDP last proved itself. */
  private failedProbes = 0;
  private nextProbeAt: number | undefined;

  constructor(timing: Partial<FallbackTiming> = {}, random: () => number = Math.random) {
    this.timing = { ...DEFAULT_FALLBACK_TIMING, ...timing };
    this.random = random;
  }

  /** The decision as of the last call, without advancing time. */
  get decision(): FallbackDecision {
    return {
      transport: this.transport,
      changedAt: this.changedAt ?? 0,
      reason: this.reason,
      probing: this.probing,
      nextProbeAt: this.transport === 'relay' ? this.nextProbeAt : undefined,
    };
  }

  /** A handshake initiation went out on the current transport. */
  handshakeSent(now: number): void {
    this.start(now);
    if (this.transport !== 'udp') return;
    this.unansweredSince ??= now;
  }

  /**
   * A packet that authenticated (a handshake response, a cookie reply or transport data that
   * decrypted) arrived `via` a transport. Only proof from UDP counts for UDP: a relay's packet still
   * in flight during a probe says nothing about UDP.
   */
  authenticatedReceived(now: number, via: TransportChoice): void {
    this.start(now);
    if (via !== 'udp' || this.transport !== 'udp') return;
    this.unansweredSince = undefined;
    this.lastAuthenticated = now;
    if (this.probing) {
      this.probing = false;
      this.reason = 'UDP answered the probe';
    }
  }

  /** The machine's network changed (another Wi-Fi, a cable): what was learned about UDP is stale. */
  networkChanged(now: number): void {
    this.start(now);
    if (this.transport === 'udp') {
      if (this.probing) return;
      // The new path gets UDP's full chance, as at the start.
      this.unansweredSince = undefined;
      this.lastAuthenticated = undefined;
      return;
    }
    this.failedProbes = 0;
    this.nextProbeAt = now;
  }

  /** Advances time; returns the decision (its transport changes only here). */
  tick(now: number): FallbackDecision {
    this.start(now);
    const t = this.timing;
    if (this.transport === 'udp') {
      if (this.probing) {
        // Timed from the probe's start: the caller sends its handshake at once when UDP is chosen.
        if (now - this.probeStartedAt >= t.probeTimeoutMs) {
          this.failedProbes += 1;
          this.toRelay(now, `UDP probe unanswered within ${t.probeTimeoutMs / 1000} s`);
        }
      } else if (this.unansweredSince !== undefined) {
        const unanswered = now - this.unansweredSince;
        const silent = this.lastAuthenticated === undefined ? 0 : now - this.lastAuthenticated;
        let why: string | undefined;
        if (unanswered >= t.udpHandshakeTimeoutMs)
          why = `UDP handshake unanswered for ${t.udpHandshakeTimeoutMs / 1000} s`;
        else if (
          this.lastAuthenticated !== undefined &&
          silent >= t.udpSilenceMs &&
          unanswered >= t.udpSilentHandshakeMs
        )
          why = `nothing received on UDP for ${Math.floor(silent / 1000)} s`;
        if (why !== undefined) {
          // UDP that came back by a probe and failed again soon was not really back.
          if (this.udpSince !== undefined && now - this.udpSince < t.udpStableMs) this.failedProbes += 1;
          else this.failedProbes = 0;
          this.toRelay(now, why);
        }
      }
    } else if (this.nextProbeAt !== undefined && now >= this.nextProbeAt) {
      this.transport = 'udp';
      this.changedAt = now;
      this.reason = 'probing UDP';
      this.probing = true;
      this.probeStartedAt = now;
      this.udpSince = now;
      this.unansweredSince = undefined;
      this.lastAuthenticated = undefined;
      this.nextProbeAt = undefined;
    }
    return this.decision;
  }

  /** The delay before the next probe after `failed` failed probes, without jitter. */
  probeDelay(failed: number): number {
    return Math.min(this.timing.probeMaxMs, this.timing.probeFirstMs * 2 ** Math.min(failed, 20));
  }

  private start(now: number): void {
    this.changedAt ??= now;
  }

  private toRelay(now: number, reason: string): void {
    this.transport = 'relay';
    this.changedAt = now;
    this.reason = reason;
    this.probing = false;
    this.unansweredSince = undefined;
    this.lastAuthenticated = undefined;
    const delay = this.probeDelay(this.failedProbes);
    this.nextProbeAt = now + Math.round(delay / 2 + (this.random() * delay) / 2);
  }
}
