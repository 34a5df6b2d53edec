// The control socket's connection limits, as a hostile group member meets them: one user cannot hold
// more than its share, all non-root users together cannot take root's reserve, and slots come back.

import assert from 'node:assert/strict';
import test from 'node:test';
import { ConnectionSlots, SLOT_LIMITS, type ReleaseSlot } from '../../helper/src/control/connection-slots.ts';

const taken = (slot: ReleaseSlot | string): ReleaseSlot => {
  assert.equal(typeof slot, 'function', String(slot));
  return slot as ReleaseSlot;
};

test('the shipped limits: 128 in all, 16 for root alone, 16 per user', () => {
  assert.deepEqual(SLOT_LIMITS, { total: 128, rootReserved: 16, perUser: 16 });
});

test('users holding every slot they may leave root its reserve, and root gets in', () => {
  const slots = new ConnectionSlots();
  // Seven users at their cap hold 112 slots: exactly what is left after root's reserve.
  for (let uid = 1000; uid < 1007; uid++)
    for (let i = 0; i < SLOT_LIMITS.perUser; i++) taken(slots.take(uid));
  assert.equal(slots.nonRoot, SLOT_LIMITS.total - SLOT_LIMITS.rootReserved);
  assert.match(String(slots.take(1007)), /no connection slot left for users other than root/);
  for (let i = 0; i < SLOT_LIMITS.rootReserved; i++) taken(slots.take(0));
  assert.match(String(slots.take(0)), /already has 128 connections open/);
});

test('one user stops at its share; a closed connection gives its slot back once', () => {
  const slots = new ConnectionSlots({ total: 10, rootReserved: 2, perUser: 3 });
  const held = [taken(slots.take(1000)), taken(slots.take(1000)), taken(slots.take(1000))];
  assert.match(String(slots.take(1000)), /uid 1000 already has 3 connections to the helper \(at most 3\)/);
  taken(slots.take(1001));
  held[0]!();
  held[0]!();
  assert.equal(slots.nonRoot, 3, 'released once, however often close fires');
  taken(slots.take(1000));
  assert.match(String(slots.take(1000)), /at most 3/);
});

test("root may use the users' slots too, up to the total", () => {
  const slots = new ConnectionSlots({ total: 4, rootReserved: 1, perUser: 4 });
  for (let i = 0; i < 3; i++) taken(slots.take(0));
  taken(slots.take(1000));
  assert.match(String(slots.take(0)), /already has 4 connections open/);
});
