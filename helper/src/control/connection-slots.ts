// Who may hold how many control connections: the rule on its own, without sockets, so that the limits
// a hostile group member runs into are tested exactly (test/unit/connection-slots.test.ts).

/** Each connection is an fd and up to a frame of buffer; the app and a few CLIs need a handful. */
export const MAX_CONNECTIONS = 128;
/**
 * Slots only root may take, so that group members holding every other one (deliberately or by a
 * runaway script) never lock out root or, through root's `phantommesh`, the person fixing it.
 */
export const ROOT_RESERVED_CONNECTIONS = 16;
/** How many connections one non-root user may hold: the app and a few CLI calls need a handful. */
export const MAX_CONNECTIONS_PER_USER = 16;

export interface SlotLimits {
  total: number;
  rootReserved: number;
  perUser: number;
}

export const SLOT_LIMITS: SlotLimits = {
  total: MAX_CONNECTIONS,
  rootReserved: ROOT_RESERVED_CONNECTIONS,
  perUser: MAX_CONNECTIONS_PER_USER,
};

/** A taken slot; give it back once when its connection closes. */
export type ReleaseSlot = () => void;

export class ConnectionSlots {
  readonly limits: SlotLimits;
  #perUser = new Map<number, number>();
  #nonRoot = 0;
  #root = 0;

  constructor(limits: SlotLimits = SLOT_LIMITS) {
    this.limits = limits;
  }

  /** Connections held by users other than root. */
  get nonRoot(): number {
    return this.#nonRoot;
  }

  /**
   * A slot for `uid`, or the reason there is none. Root may use every slot (the reserve is its own);
   * the others share what is left after the reserve, at most `perUser` each.
   */
  take(uid: number): ReleaseSlot | string {
    if (uid === 0) {
      if (this.#root + this.#nonRoot >= this.limits.total)
        return `the helper already has ${this.limits.total} connections open`;
      this.#root++;
      return this.#once(() => this.#root--);
    }
    const mine = this.#perUser.get(uid) ?? 0;
    if (mine >= this.limits.perUser)
      return `uid ${uid} already has ${mine} connections to the helper (at most ${this.limits.perUser})`;
    if (this.#nonRoot >= this.limits.total - this.limits.rootReserved)
      return 'the helper has no connection slot left for users other than root; try again later';
    this.#perUser.set(uid, mine + 1);
    this.#nonRoot++;
    return this.#once(() => {
      this.#nonRoot--;
      const left = (this.#perUser.get(uid) ?? 1) - 1;
      if (left > 0) this.#perUser.set(uid, left);
      else this.#perUser.delete(uid);
    });
  }

  #once(release: () => void): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
    };
  }
}
