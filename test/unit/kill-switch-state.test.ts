// The kill switch's state machine (helper/src/service/kill-switch-state.ts): every transition of the
// firewall decision, from the user's intent and the tunnels that are up. No I/O.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blockingStatus,
  decideFirewall,
  decideOnStop,
  isBlocking,
  mayResolveInClear,
  sameFirewall,
  type KillSwitchIntent,
  type UpTunnel,
} from '../../helper/src/service/kill-switch-state.ts';

const OFF: KillSwitchIntent = { killSwitch: false, allowLan: true, lockdown: false };
const KS: KillSwitchIntent = { killSwitch: true, allowLan: true, lockdown: false };
const LOCKDOWN: KillSwitchIntent = { killSwitch: false, allowLan: false, lockdown: true };

function up(ifname: string, state: UpTunnel['state'] = 'connected', address = '192.0.2.1'): UpTunnel {
  return {
    ifname,
    state,
    endpoints: [{ address, port: 51820, family: 4 }],
    dns: ['198.51.100.53'],
    fwmark: 0,
  };
}

test('kill switch off: never blocking for a split tunnel, whatever it does', () => {
  assert.deepEqual(decideFirewall({ settings: OFF, wanted: [], up: [] }), { state: 'off' });
  assert.deepEqual(decideFirewall({ settings: OFF, wanted: ['office'], up: [up('office')] }), {
    state: 'off',
  });
  assert.deepEqual(decideFirewall({ settings: OFF, wanted: ['office'], up: [] }), { state: 'off' });
});

test('kill switch on, nothing wanted: off (the user is off the VPN)', () => {
  assert.deepEqual(decideFirewall({ settings: KS, wanted: [], up: [] }), { state: 'off' });
});

test('connect: blocking from the moment the tunnel is wanted, before it is up', () => {
  const decision = decideFirewall({ settings: KS, wanted: ['office'], up: [] });
  assert.equal(decision.state, 'blocking');
  assert.deepEqual(blockingStatus(decision), { reason: 'kill switch: connecting office' });
  assert.equal(decision.state === 'blocking' && decision.tunnels.length, 0);
  assert.equal(mayResolveInClear(decision), false);
});

test('connecting, connected, reconnecting: blocking with the tunnel as the exception, the reason follows', () => {
  const reason = (state: UpTunnel['state']) =>
    blockingStatus(decideFirewall({ settings: KS, wanted: ['office'], up: [up('office', state)] }))?.reason;
  assert.equal(reason('connecting'), 'kill switch: connecting office');
  assert.equal(reason('connected'), 'kill switch: traffic only through office');
  assert.equal(reason('reconnecting'), 'kill switch: reconnecting office');
  const decision = decideFirewall({ settings: KS, wanted: ['office'], up: [up('office')] });
  assert.deepEqual(decision, {
    state: 'blocking',
    reason: 'kill switch: traffic only through office',
    allowLan: true,
    tunnels: [
      {
        ifname: 'office',
        endpoints: [{ address: '192.0.2.1', port: 51820, family: 4 }],
        dns: ['198.51.100.53'],
        fwmark: 0,
      },
    ],
  });
});

test('edit of the active tunnel (down for a moment, still wanted): still blocking', () => {
  const before = decideFirewall({ settings: KS, wanted: ['office'], up: [up('office')] });
  const during = decideFirewall({ settings: KS, wanted: ['office'], up: [] });
  const after = decideFirewall({
    settings: KS,
    wanted: ['office'],
    up: [up('office', 'connecting', '192.0.2.2')],
  });
  for (const decision of [before, during, after]) assert.equal(decision.state, 'blocking');
  assert.equal(sameFirewall(before, after), false, 'the new endpoint is a new exception');
});

test('a failed connect or a lost tunnel (still wanted, not up): blocking', () => {
  const decision = decideFirewall({ settings: KS, wanted: ['office', 'home'], up: [up('home')] });
  assert.deepEqual(blockingStatus(decision), { reason: 'kill switch: connecting office' });
  assert.equal(decision.state === 'blocking' && decision.tunnels[0]?.ifname, 'home');
});

test('endpoint re-resolution: same blocking, new exceptions; the reason alone does not change the ruleset', () => {
  const a = decideFirewall({ settings: KS, wanted: ['office'], up: [up('office', 'reconnecting')] });
  const b = decideFirewall({ settings: KS, wanted: ['office'], up: [up('office', 'connected')] });
  const c = decideFirewall({
    settings: KS,
    wanted: ['office'],
    up: [up('office', 'connected', '203.0.113.9')],
  });
  assert.equal(sameFirewall(a, b), true);
  assert.equal(sameFirewall(b, c), false);
  assert.equal(sameFirewall({ state: 'off' }, { state: 'off' }), true);
  assert.equal(sameFirewall({ state: 'off' }, a), false);
});

test("the user's disconnect (nothing wanted): off, even with tunnels still going down", () => {
  assert.deepEqual(decideFirewall({ settings: KS, wanted: [], up: [up('office')] }), { state: 'off' });
});

test('turning the kill switch off lifts it; on again blocks again', () => {
  assert.equal(decideFirewall({ settings: OFF, wanted: ['office'], up: [up('office')] }).state, 'off');
  assert.equal(decideFirewall({ settings: KS, wanted: ['office'], up: [up('office')] }).state, 'blocking');
});

test('helper stop or restart: blocking intent stays blocking with no tunnel up; off stays off', () => {
  const stop = decideOnStop({ settings: KS, wanted: ['office'] });
  assert.equal(stop.state, 'blocking');
  assert.deepEqual(stop.state === 'blocking' && stop.tunnels, []);
  assert.deepEqual(decideOnStop({ settings: KS, wanted: [] }), { state: 'off' });
  assert.deepEqual(decideOnStop({ settings: OFF, wanted: ['office'] }), { state: 'off' });
  assert.equal(decideOnStop({ settings: LOCKDOWN, wanted: [] }).state, 'blocking');
});

test('lockdown: blocks with nothing wanted, until turned off; a disconnect does not lift it', () => {
  const none = decideFirewall({ settings: LOCKDOWN, wanted: [], up: [] });
  assert.deepEqual(none, {
    state: 'blocking',
    reason: 'lockdown: no tunnel up',
    allowLan: false,
    tunnels: [],
  });
  assert.deepEqual(
    blockingStatus(decideFirewall({ settings: LOCKDOWN, wanted: ['office'], up: [up('office')] })),
    { reason: 'lockdown: traffic only through office' },
  );
  assert.deepEqual(
    blockingStatus(
      decideFirewall({ settings: { ...LOCKDOWN, killSwitch: true }, wanted: ['office'], up: [] }),
    ),
    { reason: 'lockdown: connecting office' },
  );
  assert.deepEqual(decideFirewall({ settings: { ...LOCKDOWN, lockdown: false }, wanted: [], up: [] }), {
    state: 'off',
  });
});

test('allowLan and the local networks pass through to the ruleset', () => {
  const local = { subnets: ['192.0.2.0/24'], dhcpServers: ['192.0.2.1'] };
  const decision = decideFirewall({
    settings: { ...KS, allowLan: false },
    wanted: ['office'],
    up: [],
    local,
  });
  assert.equal(decision.state === 'blocking' && decision.allowLan, false);
  assert.deepEqual(decision.state === 'blocking' && decision.local, local);
  const moved = decideFirewall({
    settings: { ...KS, allowLan: false },
    wanted: ['office'],
    up: [],
    local: { subnets: ['198.51.100.0/24'], dhcpServers: [] },
  });
  assert.equal(sameFirewall(decision, moved), false);
});

test('isBlocking is the rule: lockdown, or the kill switch with a wanted tunnel', () => {
  assert.equal(isBlocking(OFF, []), false);
  assert.equal(isBlocking(OFF, ['a']), false);
  assert.equal(isBlocking(KS, []), false);
  assert.equal(isBlocking(KS, ['a']), true);
  assert.equal(isBlocking(LOCKDOWN, []), true);
  assert.equal(mayResolveInClear({ state: 'off' }), true);
});

test('several tunnels are named together', () => {
  const decision = decideFirewall({ settings: KS, wanted: ['a', 'b', 'c'], up: [] });
  assert.deepEqual(blockingStatus(decision), { reason: 'kill switch: connecting a, b and c' });
});

test('kill switch off, a full tunnel up: blocking while it is up (TunnelVision), off when it goes', () => {
  const full = { ...up('office'), fullTunnel: true };
  const connected = decideFirewall({ settings: OFF, wanted: ['office'], up: [full] });
  assert.equal(connected.state, 'blocking');
  assert.match(connected.state === 'blocking' ? connected.reason : '', /^full tunnel office: /);
  assert.deepEqual(connected.state === 'blocking' ? connected.tunnels.map((t) => t.ifname) : [], ['office']);
  const reconnecting = decideFirewall({
    settings: OFF,
    wanted: ['office'],
    up: [{ ...full, state: 'reconnecting' }],
  });
  assert.equal(reconnecting.state, 'blocking', 'also while it reconnects');
  // Down (a disconnect, a failure, an edit's moment): nothing holds without the kill switch.
  assert.deepEqual(decideFirewall({ settings: OFF, wanted: ['office'], up: [] }), { state: 'off' });
  // A stopping helper never leaves it behind.
  assert.deepEqual(decideOnStop({ settings: OFF, wanted: ['office'] }), { state: 'off' });
  // With the kill switch on, the kill switch's reason wins.
  const withKillSwitch = decideFirewall({ settings: KS, wanted: ['office'], up: [full] });
  assert.match(withKillSwitch.state === 'blocking' ? withKillSwitch.reason : '', /^kill switch: /);
});
