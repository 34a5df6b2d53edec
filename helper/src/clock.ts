// The helper's clock for timers, deadlines and timestamps: milliseconds on the monotonic clock since the
// process started, as performance.now() counts them. Not performance.now() itself: the global
// `performance` loads all of perf_hooks (histograms, user timing, event-loop delay: ~0.5 MB of RSS,
// docs/performance.md) for one clock read. process.uptime() reads the same monotonic clock (libuv's
// uv_hrtime) and allocates nothing.

/** Milliseconds since the process started, monotonic, with sub-microsecond resolution. */
export function monotonicMs(): number {
  return process.uptime() * 1000;
}
