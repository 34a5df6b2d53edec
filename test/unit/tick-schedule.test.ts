import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TickSchedule } from '../../helper/src/tunnel/tick-schedule.ts';
import { DevicePair } from '../lib/device-pair.ts';

test('a device reports its peers timers to the runner and names the next deadline', async () => {
  const armed: number[] = [];
  const pair = await DevicePair.create({ a: { timerArmed: (at) => armed.push(at) } });
  assert.equal(pair.a.nextDeadline(), undefined, 'nothing pending before any packet');
  pair.sendFromA();
  assert.ok(armed.length > 0, 'the handshake and the data set timers');
  assert.equal(pair.a.nextDeadline(), Math.min(...[...pair.a.peers.values()].map((p) => p.timers.next()!)));
});

test('the schedule ticks once when the earliest deadline is due, then re-arms for the next', async () => {
  const start = performance.now();
  const ticks: number[] = [];
  let pending = [start + 30, start + 60];
  const schedule = new TickSchedule(
    () => performance.now(),
    (now) => {
      ticks.push(now);
      pending = pending.filter((at) => at > now);
    },
    () => pending[0],
  );
  // A later deadline does not move the armed timer; an earlier one does.
  schedule.armed(start + 60);
  schedule.armed(start + 30);
  schedule.armed(start + 45);
  await sleep(120);
  assert.equal(ticks.length, 2, `ticked at ${ticks.map((t) => (t - start).toFixed(1)).join(', ')} ms`);
  assert.ok(ticks[0]! >= start + 30 && ticks[0]! < start + 55, 'the first tick came when 30 ms were due');
  assert.ok(ticks[1]! >= start + 60, 'the second when 60 ms were due');
  assert.equal(pending.length, 0);
  schedule.close();
});

test('an idle schedule does not wake, and a closed one never ticks', async () => {
  let ticks = 0;
  const schedule = new TickSchedule(
    () => performance.now(),
    () => ticks++,
    () => undefined,
  );
  await sleep(30);
  assert.equal(ticks, 0, 'no deadline, no tick');
  schedule.armed(performance.now() + 10);
  schedule.close();
  schedule.armed(performance.now() + 5);
  await sleep(40);
  assert.equal(ticks, 0);
});
