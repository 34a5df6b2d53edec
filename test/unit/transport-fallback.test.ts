// The --fallback circuit breaker (helper/src/conn/transport-fallback.ts), driven with a clock of our
// own and a fixed "random": what WireGuard's timers would report, tick by tick.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PROBE_FIRST_MS,
  PROBE_MAX_MS,
  PROBE_TIMEOUT_MS,
  TransportFallback,
  UDP_HANDSHAKE_TIMEOUT_MS,
  UDP_STABLE_MS,
  type FallbackDecision,
} from '../../helper/src/conn/transport-fallback.ts';

const S = 1000;

/** A breaker whose jitter draws `random` every time, and a clock run in 100 ms ticks as the
 *  service's would, with WireGuard's handshake retries (every 5 s) while `answered` says no. */
function setup(random = 1) {
  const breaker = new TransportFallback({}, () => random);
  let now = 0;
  const changes: FallbackDecision[] = [];
  let last = breaker.tick(now).transport;
  const tick = (): FallbackDecision => {
    const decision = breaker.tick(now);
    if (decision.transport !== last) changes.push(decision);
    last = decision.transport;
    return decision;
  };
  /** Advances to `until`, ticking every 100 ms; `each` runs before each tick. */
  const runTo = (until: number, each: (at: number) => void = () => {}): FallbackDecision => {
    let decision = breaker.decision;
    while (now < until) {
      now = Math.min(until, now + 100);
      each(now);
      decision = tick();
    }
    return decision;
  };
  return {
    breaker,
    changes,
    runTo,
    get now() {
      return now;
    },
    /** UDP blocked from the start: WireGuard's handshakes at 0, 5 s, ...; runs to the switch. */
    blocked: (): FallbackDecision => {
      breaker.handshakeSent(0);
      return runTo(UDP_HANDSHAKE_TIMEOUT_MS, (at) => {
        if (at % (5 * S) === 0) breaker.handshakeSent(at);
      });
    },
    /** WireGuard on a path that answers nothing: a handshake at `from` (after now) and every 5 s. */
    unanswered: (from: number) => (at: number) => {
      if (at >= from && (at - from) % (5 * S) === 0) breaker.handshakeSent(at);
    },
  };
}

test('starts on UDP and stays there while handshakes are answered', () => {
  const { breaker, runTo } = setup();
  assert.deepEqual(breaker.decision, {
    transport: 'udp',
    changedAt: 0,
    reason: 'UDP first',
    probing: false,
    nextProbeAt: undefined,
  });
  // A rekey every 2 minutes, answered 20 ms later; data every second.
  const decision = runTo(30 * 60 * S, (at) => {
    if (at % (120 * S) === 0) breaker.handshakeSent(at);
    if (at % S === 0) breaker.authenticatedReceived(at, 'udp');
  });
  assert.equal(decision.transport, 'udp');
  assert.equal(decision.changedAt, 0);
});

test('an idle tunnel (no handshake sent) never leaves UDP, however long nothing arrives', () => {
  const { runTo } = setup();
  assert.equal(runTo(60 * 60 * S).transport, 'udp');
});

test('UDP blocked from the start: the relay once the first handshake is 10 s unanswered', () => {
  const t = setup();
  t.breaker.handshakeSent(0);
  assert.equal(t.runTo(UDP_HANDSHAKE_TIMEOUT_MS - 100, t.unanswered(5 * S)).transport, 'udp');
  const decision = t.runTo(UDP_HANDSHAKE_TIMEOUT_MS, t.unanswered(5 * S));
  assert.equal(decision.transport, 'relay');
  assert.equal(decision.changedAt, UDP_HANDSHAKE_TIMEOUT_MS);
  assert.match(decision.reason, /UDP handshake unanswered for 10 s/);
  assert.equal(decision.probing, false);
  // random() = 1: the whole first delay.
  assert.equal(decision.nextProbeAt, UDP_HANDSHAKE_TIMEOUT_MS + PROBE_FIRST_MS);
});

test('one lost handshake is not enough: answered at the retry, UDP stays', () => {
  const t = setup();
  t.breaker.handshakeSent(0);
  t.runTo(5 * S);
  t.breaker.handshakeSent(5 * S);
  t.breaker.authenticatedReceived(5 * S + 30, 'udp');
  assert.equal(t.runTo(60 * S).transport, 'udp');
});

test("UDP blocked mid-session: the relay about 20 s after the last packet (15 s silence, then WireGuard's handshake 5 s unanswered)", () => {
  const t = setup();
  // Traffic both ways until 100 s.
  t.runTo(100 * S, (at) => {
    if (at % S === 0) t.breaker.authenticatedReceived(at, 'udp');
  });
  // WireGuard starts a handshake 15 s after its data went unanswered, and retries every 5 s.
  assert.equal(t.runTo(119_900, t.unanswered(115 * S)).transport, 'udp');
  const decision = t.runTo(120 * S, t.unanswered(115 * S));
  assert.equal(decision.transport, 'relay');
  assert.match(decision.reason, /nothing received on UDP for 20 s/);
  // Well inside the 30 s the tunnel promises.
  assert.ok(decision.changedAt - 100 * S <= 20 * S);
});

test('silence alone (no handshake going unanswered) does not switch', () => {
  const t = setup();
  t.breaker.authenticatedReceived(0, 'udp');
  assert.equal(t.runTo(10 * 60 * S).transport, 'udp');
  // A handshake answered just before the 5 s keeps UDP too.
  t.breaker.handshakeSent(t.now);
  t.runTo(t.now + 4900);
  t.breaker.authenticatedReceived(t.now, 'udp');
  assert.equal(t.runTo(t.now + 60 * S).transport, 'udp');
});

test('a probe answered: UDP again, and it stays', () => {
  const t = setup();
  const relay = t.blocked();
  const probeAt = relay.nextProbeAt!;
  assert.equal(t.runTo(probeAt - 100).transport, 'relay');
  const probe = t.runTo(probeAt);
  assert.deepEqual(probe, {
    transport: 'udp',
    changedAt: probeAt,
    reason: 'probing UDP',
    probing: true,
    nextProbeAt: undefined,
  });
  t.breaker.handshakeSent(probeAt);
  t.breaker.authenticatedReceived(probeAt + 40, 'udp');
  const after = t.runTo(probeAt + 30 * 60 * S, (at) => {
    if (at % S === 0) t.breaker.authenticatedReceived(at, 'udp');
  });
  assert.equal(after.transport, 'udp');
  assert.equal(after.probing, false);
  assert.equal(after.reason, 'UDP answered the probe');
  assert.deepEqual(
    t.changes.map((change) => change.transport),
    ['relay', 'udp'],
  );
});

test('a probe unanswered: back to the relay after 5 s; probes back off 60 s doubling to 15 min', () => {
  const t = setup();
  let decision = t.blocked();
  const delays: number[] = [];
  for (let probe = 0; probe < 7; probe++) {
    delays.push(decision.nextProbeAt! - decision.changedAt);
    const probeAt = decision.nextProbeAt!;
    decision = t.runTo(probeAt);
    assert.equal(decision.probing, true);
    t.breaker.handshakeSent(probeAt);
    // Only UDP's answers count: the relay's packets still arriving say nothing about UDP.
    t.breaker.authenticatedReceived(probeAt + 100, 'relay');
    assert.equal(t.runTo(probeAt + PROBE_TIMEOUT_MS - 100).transport, 'udp');
    decision = t.runTo(probeAt + PROBE_TIMEOUT_MS);
    assert.equal(decision.transport, 'relay');
    assert.match(decision.reason, /UDP probe unanswered within 5 s/);
  }
  delays.push(decision.nextProbeAt! - decision.changedAt);
  assert.deepEqual(
    delays.map((ms) => ms / S),
    [60, 120, 240, 480, 900, 900, 900, 900],
  );
  assert.equal(PROBE_MAX_MS, 900 * S);
});

test('probe jitter: between half the delay and the whole of it', () => {
  for (const [random, expected] of [
    [0, PROBE_FIRST_MS / 2],
    [0.5, (PROBE_FIRST_MS * 3) / 4],
    [1, PROBE_FIRST_MS],
  ] as const) {
    const t = setup(random);
    const decision = t.blocked();
    assert.equal(decision.nextProbeAt! - decision.changedAt, expected, `random ${random}`);
  }
});

test('UDP that answers the probe but fails again soon counts as a failed probe (no flapping every minute)', () => {
  const t = setup();
  let decision = t.blocked();
  // The probe is answered, the firewall then blocks the flow: handshakes from 30 s later unanswered.
  let probeAt = decision.nextProbeAt!;
  t.runTo(probeAt);
  t.breaker.authenticatedReceived(probeAt + 40, 'udp');
  decision = t.runTo(probeAt + 60 * S, t.unanswered(probeAt + 30 * S));
  assert.equal(decision.transport, 'relay');
  assert.equal(decision.nextProbeAt! - decision.changedAt, 2 * PROBE_FIRST_MS);

  // Next time UDP holds for longer than UDP_STABLE_MS before it fails: the backoff starts over.
  probeAt = decision.nextProbeAt!;
  t.runTo(probeAt);
  t.breaker.authenticatedReceived(probeAt + 40, 'udp');
  const failsAt = probeAt + UDP_STABLE_MS + 10 * S;
  t.runTo(failsAt, (at) => {
    if (at % S === 0) t.breaker.authenticatedReceived(at, 'udp');
  });
  decision = t.runTo(failsAt + 30 * S, t.unanswered(failsAt + 15 * S));
  assert.equal(decision.transport, 'relay');
  assert.equal(decision.nextProbeAt! - decision.changedAt, PROBE_FIRST_MS);
});

test('a network change on the relay probes UDP at the next tick, with the backoff forgotten', () => {
  const t = setup();
  let decision = t.blocked();
  // Two failed probes: the next would be 4 minutes away.
  for (let i = 0; i < 2; i++) {
    const probeAt = decision.nextProbeAt!;
    t.runTo(probeAt);
    decision = t.runTo(probeAt + PROBE_TIMEOUT_MS);
  }
  assert.equal(decision.nextProbeAt! - decision.changedAt, 4 * PROBE_FIRST_MS);
  const changedAt = t.now + 1000;
  t.runTo(changedAt - 100);
  t.breaker.networkChanged(changedAt - 50);
  decision = t.runTo(changedAt);
  assert.equal(decision.transport, 'udp');
  assert.equal(decision.probing, true);
  // Unanswered again: the backoff restarted at 60 s.
  decision = t.runTo(changedAt + PROBE_TIMEOUT_MS);
  assert.equal(decision.transport, 'relay');
  assert.equal(decision.nextProbeAt! - decision.changedAt, 2 * PROBE_FIRST_MS);
});

test('a network change on UDP gives the new path a full 10 s', () => {
  const t = setup();
  t.breaker.handshakeSent(0);
  t.runTo(8 * S, t.unanswered(5 * S));
  t.breaker.networkChanged(8 * S);
  t.breaker.handshakeSent(8 * S);
  assert.equal(t.runTo(8 * S + UDP_HANDSHAKE_TIMEOUT_MS - 100).transport, 'udp');
  assert.equal(t.runTo(8 * S + UDP_HANDSHAKE_TIMEOUT_MS).transport, 'relay');
});

test('the transport changes only in tick(); the first call of any kind sets the start time', () => {
  const breaker = new TransportFallback({}, () => 0.5);
  breaker.handshakeSent(5000);
  assert.equal(breaker.decision.changedAt, 5000);
  breaker.authenticatedReceived(30_000, 'relay');
  breaker.handshakeSent(30_000);
  assert.equal(breaker.decision.transport, 'udp');
  assert.equal(breaker.tick(40_000).transport, 'relay');
});

test('property: whatever WireGuard reports, UDP that answered within 5 s is never left, and unanswered UDP is left within 10 s', () => {
  type Event = { at: number; kind: 'sent' | 'udp' | 'relay' | 'net' };
  const events = fc
    .array(
      fc.record({
        gap: fc.integer({ min: 0, max: 20_000 }),
        kind: fc.constantFrom('sent' as const, 'udp' as const, 'relay' as const, 'net' as const),
      }),
      { maxLength: 60 },
    )
    .map((list) => {
      let at = 0;
      return list.map(({ gap, kind }): Event => ({ at: (at += gap), kind }));
    });
  fc.assert(
    fc.property(events, fc.double({ min: 0, max: 1, noNaN: true }), (list, random) => {
      const breaker = new TransportFallback({}, () => random);
      let lastUdpAnswer = -Infinity;
      let unansweredSince: number | undefined;
      let next = 0;
      let transport = breaker.tick(0).transport;
      for (let now = 0; now <= (list.at(-1)?.at ?? 0) + 60_000; now += 100) {
        for (; next < list.length && list[next]!.at <= now; next++) {
          const { kind } = list[next]!;
          if (kind === 'sent') {
            breaker.handshakeSent(now);
            if (transport === 'udp') unansweredSince ??= now;
          } else if (kind === 'net') {
            breaker.networkChanged(now);
            unansweredSince = undefined;
          } else {
            breaker.authenticatedReceived(now, kind);
            if (kind === 'udp' && transport === 'udp') {
              lastUdpAnswer = now;
              unansweredSince = undefined;
            }
          }
        }
        const decision = breaker.tick(now);
        if (decision.probing) assert.equal(decision.transport, 'udp');
        if (decision.transport === 'relay') assert.ok(decision.nextProbeAt! > decision.changedAt);
        if (transport === 'udp' && decision.transport === 'relay') {
          assert.ok(now - lastUdpAnswer >= 5000, `left UDP ${now - lastUdpAnswer} ms after an answer`);
        }
        if (
          transport === 'udp' &&
          decision.transport === 'udp' &&
          !decision.probing &&
          unansweredSince !== undefined
        )
          assert.ok(now - unansweredSince < UDP_HANDSHAKE_TIMEOUT_MS, 'unanswered UDP kept for 10 s');
        if (decision.transport !== transport) unansweredSince = undefined;
        transport = decision.transport;
      }
    }),
    { numRuns: 200 },
  );
});
