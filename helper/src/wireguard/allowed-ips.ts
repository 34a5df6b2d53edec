// Cryptokey routing: the peer a packet to a destination is sent to, and the peer a source may come
// from. One path-compressed binary trie per family, shaped like the kernel's allowedips.c: every node
// is a prefix; nodes without a value only join two subtrees, so they always have both children.
// Addresses are held as big-endian 32-bit words, so a prefix test costs one to four integer compares.

class Node<T> {
  readonly key: Int32Array;
  readonly bits: number;
  value: T | undefined;
  parent: Node<T> | undefined = undefined;
  /** Indexed by the address bit right after the prefix, at position `bits`. */
  readonly child: [Node<T> | undefined, Node<T> | undefined] = [undefined, undefined];

  constructor(key: Int32Array, bits: number, value: T | undefined) {
    this.key = key;
    this.bits = bits;
    this.value = value;
  }
}

function prefixMatches(node: Node<unknown>, address: Int32Array): boolean {
  const key = node.key;
  const whole = node.bits >>> 5;
  for (let i = 0; i < whole; i++) if (address[i] !== key[i]) return false;
  const rest = node.bits & 31;
  return rest === 0 || (address[whole] ^ key[whole]) >>> (32 - rest) === 0;
}

function bitAt(words: Int32Array, position: number): 0 | 1 {
  return ((words[position >>> 5] >>> (31 - (position & 31))) & 1) as 0 | 1;
}

function commonBits(a: Int32Array, b: Int32Array): number {
  for (let i = 0; i < a.length; i++) {
    const differ = a[i] ^ b[i];
    if (differ !== 0) return i * 32 + Math.clz32(differ);
  }
  return a.length * 32;
}

function readWords(ip: Uint8Array, out: Int32Array): Int32Array {
  for (let i = 0; i < out.length; i++) {
    const j = i * 4;
    out[i] = (ip[j] << 24) | (ip[j + 1] << 16) | (ip[j + 2] << 8) | ip[j + 3];
  }
  return out;
}

function masked(words: Int32Array, bits: number): Int32Array {
  const out = new Int32Array(words.length);
  for (let i = 0; i < words.length; i++) {
    const keep = bits - i * 32;
    out[i] = keep >= 32 ? words[i] : keep > 0 ? words[i] & (-1 << (32 - keep)) : 0;
  }
  return out;
}

function writeBytes(words: Int32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((word, i) => view.setInt32(i * 4, word));
  return out;
}

class Trie<T> {
  readonly addressBits: number;
  root: Node<T> | undefined = undefined;
  /** The address under lookup, so that lookups allocate nothing. */
  readonly scratch: Int32Array;

  constructor(addressBits: number) {
    this.addressBits = addressBits;
    this.scratch = new Int32Array(addressBits / 32);
  }

  lookup(address: Int32Array): T | undefined {
    let found: T | undefined;
    let node = this.root;
    while (node !== undefined && prefixMatches(node, address)) {
      if (node.value !== undefined) found = node.value;
      if (node.bits === this.addressBits) break;
      node = node.child[bitAt(address, node.bits)];
    }
    return found;
  }

  /** The node holding exactly key/bits, existing (possibly valueless) or new; `key` must be masked. */
  place(key: Int32Array, bits: number): Node<T> {
    let parent: Node<T> | undefined;
    let node = this.root;
    while (node !== undefined && node.bits <= bits && prefixMatches(node, key)) {
      if (node.bits === bits) return node;
      parent = node;
      node = node.child[bitAt(key, node.bits)];
    }
    const fresh = new Node<T>(key, bits, undefined);
    if (node === undefined) {
      this.link(parent, fresh);
      return fresh;
    }
    // `node` hangs where the new prefix belongs: either the prefix covers it, or the two part ways
    // at their first differing bit and a valueless node joins them there.
    const common = Math.min(bits, commonBits(node.key, key));
    if (common === bits) {
      this.link(fresh, node);
      this.link(parent, fresh);
    } else {
      const join = new Node<T>(masked(key, common), common, undefined);
      this.link(join, node);
      this.link(join, fresh);
      this.link(parent, join);
    }
    return fresh;
  }

  /** The node that holds a value for exactly key/bits; `key` must be masked. */
  find(key: Int32Array, bits: number): Node<T> | undefined {
    let node = this.root;
    while (node !== undefined && node.bits <= bits && prefixMatches(node, key)) {
      if (node.bits === bits) return node.value === undefined ? undefined : node;
      node = node.child[bitAt(key, node.bits)];
    }
    return undefined;
  }

  remove(node: Node<T>): void {
    node.value = undefined;
    const [zero, one] = node.child;
    if (zero !== undefined && one !== undefined) return;
    const parent = node.parent;
    const child = zero ?? one;
    this.replace(parent, node, child);
    // A valueless parent that has lost a child joins nothing any more.
    if (child === undefined && parent !== undefined && parent.value === undefined) {
      this.replace(parent.parent, parent, parent.child[0] ?? parent.child[1]);
    }
  }

  private link(parent: Node<T> | undefined, node: Node<T>): void {
    node.parent = parent;
    if (parent === undefined) this.root = node;
    else parent.child[bitAt(node.key, parent.bits)] = node;
  }

  private replace(parent: Node<T> | undefined, old: Node<T>, next: Node<T> | undefined): void {
    if (next !== undefined) next.parent = parent;
    if (parent === undefined) this.root = next;
    else parent.child[parent.child[0] === old ? 0 : 1] = next;
  }
}

export class AllowedIps<T> {
  private readonly v4 = new Trie<T>(32);
  private readonly v6 = new Trie<T>(128);
  /** Each value's prefixes in the order they were given, as `wg show` lists them. */
  private readonly byValue = new Map<T, Set<Node<T>>>();

  /** Routes ip/bits to `value`, taking the prefix from whichever value held it before. */
  insert(ip: Uint8Array, bits: number, value: T): void {
    const trie = this.prefixTrie(ip, bits);
    const node = trie.place(masked(readWords(ip, trie.scratch), bits), bits);
    if (node.value !== undefined) this.disown(node.value, node);
    node.value = value;
    let nodes = this.byValue.get(value);
    if (nodes === undefined) this.byValue.set(value, (nodes = new Set()));
    nodes.add(node);
  }

  /** Removes ip/bits if `value` holds it. */
  remove(ip: Uint8Array, bits: number, value: T): boolean {
    const trie = this.prefixTrie(ip, bits);
    const node = trie.find(masked(readWords(ip, trie.scratch), bits), bits);
    if (node === undefined || node.value !== value) return false;
    this.disown(value, node);
    trie.remove(node);
    return true;
  }

  removeByValue(value: T): void {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return;
    this.byValue.delete(value);
    for (const node of nodes) (node.key.length === 1 ? this.v4 : this.v6).remove(node);
  }

  /** The value of the longest prefix holding `ip` (4 or 16 bytes). */
  lookup(ip: Uint8Array): T | undefined {
    const trie = this.trie(ip);
    return trie.lookup(readWords(ip, trie.scratch));
  }

  entriesFor(value: T): Array<{ ip: Uint8Array; bits: number }> {
    return [...(this.byValue.get(value) ?? [])].map((node) => ({ ip: writeBytes(node.key), bits: node.bits }));
  }

  private trie(ip: Uint8Array): Trie<T> {
    if (ip.length === 4) return this.v4;
    if (ip.length === 16) return this.v6;
    throw new RangeError(`an IP address is 4 or 16 bytes, not ${ip.length}`);
  }

  private prefixTrie(ip: Uint8Array, bits: number): Trie<T> {
    const trie = this.trie(ip);
    if (!Number.isInteger(bits) || bits < 0 || bits > trie.addressBits) {
      throw new RangeError(`/${bits} is not a prefix length of a ${trie.addressBits}-bit address`);
    }
    return trie;
  }

  private disown(value: T, node: Node<T>): void {
    const nodes = this.byValue.get(value);
    if (nodes === undefined) return;
    nodes.delete(node);
    if (nodes.size === 0) this.byValue.delete(value);
  }
}
