// Receive/send rates from the helper's stats events (one a second per active tunnel, each carrying
// byte totals). Pure: the store keeps one RateHistory per tunnel and feeds it every event.

export const RATE_WINDOW_MS = 60_000;
/** Events closer than this are not used for a rate: a tiny interval turns jitter into spikes. */
const MIN_INTERVAL_MS = 250;

export interface RatePoint {
  /** When the sample was taken (ms, the renderer's clock). */
  time: number;
  /** Bytes per second over the interval that ends at `time`. */
  rx: number;
  tx: number;
}

export interface RateHistory {
  last: { time: number; rx: number; tx: number } | null;
  points: RatePoint[];
}

export const emptyHistory: RateHistory = { last: null, points: [] };

/**
 * Adds a sample of byte totals. Counters that go backwards (the tunnel was reconnected and its
 * device counts from zero) start a new baseline rather than a negative rate.
 */
export function addSample(history: RateHistory, time: number, rxBytes: number, txBytes: number): RateHistory {
  const { last } = history;
  const cutoff = time - RATE_WINDOW_MS;
  const kept = history.points.filter((point) => point.time >= cutoff);
  if (!last || time <= last.time) return { last: { time, rx: rxBytes, tx: txBytes }, points: kept };
  const interval = time - last.time;
  if (interval < MIN_INTERVAL_MS) return { last, points: kept };
  if (rxBytes < last.rx || txBytes < last.tx)
    return { last: { time, rx: rxBytes, tx: txBytes }, points: kept };
  const seconds = interval / 1000;
  const point = { time, rx: (rxBytes - last.rx) / seconds, tx: (txBytes - last.tx) / seconds };
  return { last: { time, rx: rxBytes, tx: txBytes }, points: [...kept, point] };
}

/** The latest rates, or zero when there is no recent point. */
export function currentRate(history: RateHistory, now: number): { rx: number; tx: number } {
  const point = history.points.at(-1);
  if (!point || now - point.time > 3000) return { rx: 0, tx: 0 };
  return { rx: point.rx, tx: point.tx };
}

/**
 * A round ceiling for the chart's y axis in the unit it is shown in: 1, 2 or 5 times a power of ten
 * KiB/s, MiB/s, … (at most 500 of one unit, then 1 of the next), at least 1 KiB/s, so the scale reads
 * "500 KiB/s" or "2 MiB/s".
 */
export function chartCeiling(points: readonly RatePoint[]): number {
  const peak = Math.max(0, ...points.map((point) => Math.max(point.rx, point.tx)));
  let unit = 1024;
  while (peak / unit > 500 && unit < 1024 ** 4) unit *= 1024;
  const value = peak / unit;
  for (const step of [1, 2, 5, 10, 20, 50, 100, 200, 500]) if (value <= step) return step * unit;
  return 1000 * unit;
}

/** Chart coordinates for one series over the last 60 s: x 0..width (oldest..now), y 0..height (top). */
export function chartCoordinates(
  points: readonly RatePoint[],
  series: 'rx' | 'tx',
  now: number,
  ceiling: number,
  width: number,
  height: number,
): Array<[number, number]> {
  const start = now - RATE_WINDOW_MS;
  return points
    .filter((point) => point.time >= start && point.time <= now)
    .map((point) => [
      ((point.time - start) / RATE_WINDOW_MS) * width,
      height - (Math.min(point[series], ceiling) / ceiling) * height,
    ]);
}

const fixed = ([x, y]: [number, number]) => `${x.toFixed(1)},${y.toFixed(1)}`;

/** An SVG polyline `points` attribute. */
export function polylinePoints(coordinates: ReadonlyArray<[number, number]>): string {
  return coordinates.map(fixed).join(' ');
}

/** An SVG path that fills the area under a line down to the x axis; empty without two points. */
export function areaPath(coordinates: ReadonlyArray<[number, number]>, height: number): string {
  if (coordinates.length < 2) return '';
  const first = coordinates[0][0].toFixed(1);
  const last = coordinates[coordinates.length - 1][0].toFixed(1);
  return `M${first},${height} L${coordinates.map(fixed).join(' L')} L${last},${height} Z`;
}
