// Rates from the helper's stats events, and the chart's scale and shapes (app/renderer/src/lib/rates.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addSample,
  areaPath,
  chartCeiling,
  chartCoordinates,
  currentRate,
  emptyHistory,
  polylinePoints,
  RATE_WINDOW_MS,
  type RateHistory,
} from '../../app/renderer/src/lib/rates.ts';

function feed(samples: Array<[time: number, rx: number, tx: number]>): RateHistory {
  return samples.reduce((history, [time, rx, tx]) => addSample(history, time, rx, tx), emptyHistory);
}

test('the first sample is only a baseline', () => {
  const history = feed([[1000, 5000, 100]]);
  assert.deepEqual(history.points, []);
  assert.deepEqual(history.last, { time: 1000, rx: 5000, tx: 100 });
});

test('rates are byte deltas over the interval in seconds', () => {
  const history = feed([
    [1000, 0, 0],
    [2000, 10_240, 2048],
    [4000, 30_720, 2048],
  ]);
  assert.deepEqual(history.points, [
    { time: 2000, rx: 10_240, tx: 2048 },
    { time: 4000, rx: 10_240, tx: 0 },
  ]);
});

test('counters that go backwards (a reconnect) start a new baseline, never a negative rate', () => {
  const history = feed([
    [1000, 50_000, 50_000],
    [2000, 60_000, 55_000],
    [3000, 100, 40],
    [4000, 1124, 1064],
  ]);
  assert.deepEqual(
    history.points.map((point) => [point.rx, point.tx]),
    [
      [10_000, 5000],
      [1024, 1024],
    ],
  );
});

test('events closer than a quarter second, or out of order, do not make a point', () => {
  const history = feed([
    [1000, 0, 0],
    [1100, 99_999, 99_999],
    [2000, 1000, 1000],
  ]);
  // The 100 ms event is skipped; the next rate is measured from the 1000 ms baseline.
  assert.deepEqual(history.points, [{ time: 2000, rx: 1000, tx: 1000 }]);
  const back = addSample(history, 1500, 5000, 5000);
  assert.deepEqual(back.points, history.points);
});

test('points older than the window are dropped', () => {
  const samples: Array<[number, number, number]> = [];
  for (let second = 0; second <= 90; second++) samples.push([second * 1000, second * 1024, 0]);
  const history = feed(samples);
  const oldest = history.points[0].time;
  assert.ok(oldest >= 90_000 - RATE_WINDOW_MS, `oldest point at ${oldest}`);
  assert.equal(history.points.length, 61);
  assert.ok(history.points.every((point) => point.rx === 1024));
});

test('the current rate is the latest point, or zero once it is stale', () => {
  const history = feed([
    [1000, 0, 0],
    [2000, 2048, 1024],
  ]);
  assert.deepEqual(currentRate(history, 2500), { rx: 2048, tx: 1024 });
  assert.deepEqual(currentRate(history, 6000), { rx: 0, tx: 0 });
  assert.deepEqual(currentRate(emptyHistory, 0), { rx: 0, tx: 0 });
});

test('the chart ceiling is a round number in the unit shown', () => {
  const at = (rx: number) => [{ time: 0, rx, tx: 0 }];
  assert.equal(chartCeiling([]), 1024);
  assert.equal(chartCeiling(at(300)), 1024);
  assert.equal(chartCeiling(at(1.5 * 1024)), 2 * 1024);
  assert.equal(chartCeiling(at(300 * 1024)), 500 * 1024);
  assert.equal(chartCeiling(at(990 * 1024)), 1024 * 1024);
  assert.equal(chartCeiling(at(3.2 * 1024 * 1024)), 5 * 1024 * 1024);
});

test('chart coordinates place the window from 0 (60 s ago) to width (now), top at the ceiling', () => {
  const now = 100_000;
  const points = [
    { time: now - 60_000, rx: 0, tx: 500 },
    { time: now - 30_000, rx: 500, tx: 0 },
    { time: now, rx: 2000, tx: 0 },
    { time: now - 61_000, rx: 9, tx: 9 },
  ];
  const rx = chartCoordinates(points, 'rx', now, 1000, 600, 100);
  assert.deepEqual(rx, [
    [0, 100],
    [300, 50],
    [600, 0],
  ]);
  assert.equal(polylinePoints(rx), '0.0,100.0 300.0,50.0 600.0,0.0');
  assert.equal(areaPath(rx, 100), 'M0.0,100 L0.0,100.0 L300.0,50.0 L600.0,0.0 L600.0,100 Z');
  assert.equal(areaPath(rx.slice(0, 1), 100), '');
});
