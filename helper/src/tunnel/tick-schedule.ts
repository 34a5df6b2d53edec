// When a device's timers next need a tick. A peer timer reports each deadline it sets; one Node
// timer is armed for the earliest, and moved only when a deadline comes before it (a later one is
// picked up when the armed timer fires). An idle tunnel therefore sleeps until its next keepalive
// or rekey instead of waking ten times a second, and a timer fires when it is due rather than up to
// a polling period late. Deadlines set on every packet (keepalive, new-handshake) are later than the
// one armed, so the data path pays one comparison for them.

export class TickSchedule {
  #armedAt = Infinity;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #now: () => number;
  readonly #tick: (now: number) => void;
  readonly #next: () => number | undefined;

  /** `tick` runs the due timers; `next` says when the earliest pending one is due afterwards. */
  constructor(now: () => number, tick: (now: number) => void, next: () => number | undefined) {
    this.#now = now;
    this.#tick = tick;
    this.#next = next;
  }

  /** A deadline was set for `at` (monotonic ms). */
  armed = (at: number): void => {
    if (at >= this.#armedAt || this.#closed) return;
    clearTimeout(this.#timer);
    this.#armedAt = at;
    // Node's timers count whole milliseconds of a clock read once per loop turn, so they can fire up
    // to a millisecond before `at`: one more keeps that from costing a second wake-up. (Should one
    // still come early, nothing is due yet and the fire re-arms for the rest.)
    this.#timer = setTimeout(this.#fire, Math.max(0, Math.ceil(at - this.#now())) + 1);
  };

  #fire = (): void => {
    this.#armedAt = Infinity;
    this.#timer = undefined;
    this.#tick(this.#now());
    const next = this.#next();
    if (next !== undefined) this.armed(next);
  };

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
