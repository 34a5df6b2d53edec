// Cryptokey routing: the peer a packet to a destination is sent to, and the peer a source may come
// from. A path-compressed binary trie per family, shaped like the kernel's allowedips.c: every node is
// a prefix; nodes without a value only join two subtrees, so they always have both children.
//
// Nodes live in flat typed arrays indexed by node number rather than as objects, which keeps a lookup
// through tens of thousands of prefixes inside a few cache lines per level and gives the collector
// nothing to trace. Addresses are big-endian 32-bit words, so a prefix test is one to four compares.

const NONE = 0;
const WORDS = 4;

function readWords(ip: Uint8Array, out: Int32Array): Int32Array {
  for (let i = 0, j = 0; j < ip.length; i++, j += 4) {
    out[i] = (ip[j] << 24) | (ip[j + 1] << 16) | (ip[j + 2] << 8) | ip[j + 3];
  }
  return out;
}

function bitAt(words: Int32Array, offset: number, position: number): number {
  return (words[offset + (position >>> 5)] >>> (31 - (position & 31))) & 1;
}

function widen<A extends Int32Array | Uint8Array>(old: A, fresh: A): A {
  fresh.set(old);
  return fresh;
}

class Trie<T> {
  // Node n: its prefix in keys[4n..4n+3] (host bits zero) and bits[n]; sizes[n] is 4 or 16, the
  // address length of its family; children[2n + b] follows address bit b at position bits[n].
  private keys = new Int32Array(0);
  private bits = new Uint8Array(0);
  private sizes = new Uint8Array(0);
  private children = new Int32Array(0);
  private parents = new Int32Array(0);
  values: Array<T | undefined> = [];
  private readonly free: number[] = [];
  private used = 1;
  private root4 = NONE;
  private root6 = NONE;

  constructor() {
    this.grow(64);
  }

  isEmpty(): boolean {
    return this.root4 === NONE && this.root6 === NONE;
  }

  lookup(address: Int32Array, size: number): T | undefined {
    const { keys, bits, children, values } = this;
    const addressBits = size * 8;
    let found: T | undefined;
    let n = size === 4 ? this.root4 : this.root6;
    while (n !== NONE) {
      const prefix = bits[n];
      const key = n * WORDS;
      const whole = prefix >>> 5;
      for (let i = 0; i < whole; i++) if (address[i] !== keys[key + i]) return found;
      const rest = prefix & 31;
      if (rest !== 0 && (address[whole] ^ keys[key + whole]) >>> (32 - rest) !== 0) return found;
      const value = values[n];
      if (value !== undefined) found = value;
      if (prefix === addressBits) return found;
      n = children[2 * n + bitAt(address, 0, prefix)];
    }
    return found;
  }

  /** The node for exactly address/bits, existing (possibly valueless) or new. */
  place(address: Int32Array, bits: number, size: number): number {
    let parent = NONE;
    let n = size === 4 ? this.root4 : this.root6;
    while (n !== NONE && this.bits[n] <= bits && this.common(n, address) >= this.bits[n]) {
      if (this.bits[n] === bits) return n;
      parent = n;
      n = this.children[2 * n + bitAt(address, 0, this.bits[n])];
    }
    const fresh = this.allocate(address, bits, size);
    if (n === NONE) {
      this.link(parent, fresh);
      return fresh;
    }
    // n hangs where the new prefix belongs: either the prefix covers it, or the two part ways at
    // their first differing bit and a valueless node joins them there.
    const common = Math.min(bits, this.common(n, address));
    if (common === bits) {
      this.link(fresh, n);
      this.link(parent, fresh);
    } else {
      const join = this.allocate(address, common, size);
      this.link(join, n);
      this.link(join, fresh);
      this.link(parent, join);
    }
    return fresh;
  }

  /** The node that holds a value for exactly address/bits, or NONE. */
  find(address: Int32Array, bits: number, size: number): number {
    let n = size === 4 ? this.root4 : this.root6;
    while (n !== NONE && this.bits[n] <= bits && this.common(n, address) >= this.bits[n]) {
      if (this.bits[n] === bits) return this.values[n] === undefined ? NONE : n;
      n = this.children[2 * n + bitAt(address, 0, this.bits[n])];
    }
    return NONE;
  }

  remove(n: number): void {
    this.values[n] = undefined;
    const zero = this.children[2 * n];
    const one = this.children[2 * n + 1];
    if (zero !== NONE && one !== NONE) return;
    const parent = this.parents[n];
    const child = zero !== NONE ? zero : one;
    this.replace(n, child);
    // A valueless parent that has lost a child joins nothing any more.
    if (child === NONE && parent !== NONE && this.values[parent] === undefined) {
      const other =
        this.children[2 * parent] !== NONE ? this.children[2 * parent] : this.children[2 * parent + 1];
      this.replace(parent, other);
    }
  }

  prefix(n: number): { ip: Uint8Array; bits: number } {
    const ip = new Uint8Array(this.sizes[n]);
    const view = new DataView(ip.buffer);
    for (let i = 0; i < ip.length / 4; i++) view.setInt32(i * 4, this.keys[n * WORDS + i]);
    return { ip, bits: this.bits[n] };
  }

  /** Leading bits that node n's prefix and `address` share, counted past the prefix's end. */
  private common(n: number, address: Int32Array): number {
    const words = this.sizes[n] / 4;
    for (let i = 0; i < words; i++) {
      const differ = this.keys[n * WORDS + i] ^ address[i];
      if (differ !== 0) return i * 32 + Math.clz32(differ);
    }
    return words * 32;
  }

  private allocate(address: Int32Array, bits: number, size: number): number {
    let n = this.free.pop();
    if (n === undefined) {
      if (this.used === this.bits.length) this.grow(this.used * 2);
      n = this.used++;
    }
    for (let i = 0; i < WORDS; i++) {
      const keep = bits - i * 32;
      this.keys[n * WORDS + i] = keep >= 32 ? address[i] : keep > 0 ? address[i] & (-1 << (32 - keep)) : 0;
    }
    this.bits[n] = bits;
    this.sizes[n] = size;
    this.children[2 * n] = NONE;
    this.children[2 * n + 1] = NONE;
    return n;
  }

  private link(parent: number, n: number): void {
    this.parents[n] = parent;
    if (parent !== NONE) this.children[2 * parent + bitAt(this.keys, n * WORDS, this.bits[parent])] = n;
    else if (this.sizes[n] === 4) this.root4 = n;
    else this.root6 = n;
  }

  /** Puts `next` (or nothing) where n hangs, and frees n. */
  private replace(n: number, next: number): void {
    const parent = this.parents[n];
    if (next !== NONE) this.parents[next] = parent;
    if (parent !== NONE) this.children[2 * parent + (this.children[2 * parent] === n ? 0 : 1)] = next;
    else if (this.sizes[n] === 4) this.root4 = next;
    else this.root6 = next;
    this.free.push(n);
  }

  private grow(capacity: number): void {
    this.keys = widen(this.keys, new Int32Array(capacity * WORDS));
    this.bits = widen(this.bits, new Uint8Array(capacity));
    this.sizes = widen(this.sizes, new Uint8Array(capacity));
    this.children = widen(this.children, new Int32Array(capacity * 2));
    this.parents = widen(this.parents, new Int32Array(capacity));
    while (this.values.length < capacity) this.values.push(undefined);
  }
}

export class AllowedIps<T> {
  private readonly trie = new Trie<T>();
  /** Each value's prefixes (node numbers) in the order they were given, as `wg show` lists them. */
  private readonly byValue = new Map<T, Set<number>>();
  /** The address being looked up, so that lookups allocate nothing. */
  private readonly address = new Int32Array(WORDS);

  /** Routes ip/bits to `value`, taking the prefix from whichever value held it before. */
  insert(ip: Uint8Array, bits: number, value: T): void {
    checkPrefix(ip, bits);
    const n = this.trie.place(readWords(ip, this.address), bits, ip.length);
    const old = this.trie.values[n];
    if (old !== undefined) this.disown(old, n);
    this.trie.values[n] = value;
    let nodes = this.byValue.get(value);
    if (nodes === undefined) this.byValue.set(value, (nodes = new Set()));
    nodes.add(n);
  }

  /** Removes ip/bits if `value` holds it. */
  remove(ip: Uint8Array, bits: number, value: T): boolean {
    checkPrefix(ip, bits);
    const n = this.trie.find(readWords(ip, this.address), bits, ip.length);
    if (n === NONE || this.trie.values[n] !== value) return false;
    this.disown(value, n);
    this.trie.remove(n);
    return true;
  }

  removeByValue(value: T): void {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return;
    this.byValue.delete(value);
    for (const n of nodes) this.trie.remove(n);
  }

  /** The value of the longest prefix holding `ip` (4 or 16 bytes). */
  lookup(ip: Uint8Array): T | undefined {
    if (ip.length !== 4 && ip.length !== 16) throw badAddress(ip);
    return this.trie.lookup(readWords(ip, this.address), ip.length);
  }

  entriesFor(value: T): Array<{ ip: Uint8Array; bits: number }> {
    return [...(this.byValue.get(value) ?? [])].map((n) => this.trie.prefix(n));
  }

  private disown(value: T, n: number): void {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return;
    nodes.delete(n);
    if (nodes.size === 0) this.byValue.delete(value);
  }
}

function badAddress(ip: Uint8Array): RangeError {
  return new RangeError(`an IP address is 4 or 16 bytes, not ${ip.length}`);
}

function checkPrefix(ip: Uint8Array, bits: number): void {
  if (ip.length !== 4 && ip.length !== 16) throw badAddress(ip);
  if (!Number.isInteger(bits) || bits < 0 || bits > ip.length * 8) {
    throw new RangeError(`/${bits} is not a prefix length of a ${ip.length * 8}-bit address`);
  }
}
