// Packets handed from a reader thread to the main thread in one message: a batch is one ArrayBuffer
// (transferred, not copied) of [u16 length][packet] records, at most BATCH_BYTES long. The Wintun
// reader (wintun-reader_windows.ts) and the UDP reader (udp-reader_windows.ts) fill them; the main
// thread walks them. Pure, so the unit tests run it anywhere.

export const BATCH_BYTES = 256 * 1024;
const HEADER = 2;

export class BatchWriter {
  #buffer = new Uint8Array(BATCH_BYTES);
  #length = 0;
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** Whether a packet of `size` bytes still fits. */
  fits(size: number): boolean {
    return this.#length + HEADER + size <= this.#buffer.length;
  }

  /** Room for one packet of `size` bytes: the caller copies it in. Throws if it does not fit. */
  reserve(size: number): Uint8Array {
    if (size > 0xffff || !this.fits(size))
      throw new RangeError(`a packet of ${size} bytes does not fit the batch`);
    this.#buffer[this.#length] = size >>> 8;
    this.#buffer[this.#length + 1] = size & 0xff;
    const room = this.#buffer.subarray(this.#length + HEADER, this.#length + HEADER + size);
    this.#length += HEADER + size;
    this.#count++;
    return room;
  }

  push(packet: Uint8Array): void {
    this.reserve(packet.length).set(packet);
  }

  /** The filled part as its own ArrayBuffer (to transfer); the writer starts a new one. */
  take(): ArrayBuffer {
    const done = this.#buffer.buffer.slice(0, this.#length);
    this.#length = 0;
    this.#count = 0;
    return done;
  }
}

/** Calls `onPacket` with each packet of a batch (views into it, valid during the call). */
export function forEachPacket(batch: ArrayBuffer, onPacket: (packet: Buffer) => void): number {
  const bytes = Buffer.from(batch);
  let offset = 0;
  let count = 0;
  while (offset + HEADER <= bytes.length) {
    const size = (bytes[offset]! << 8) | bytes[offset + 1]!;
    const end = offset + HEADER + size;
    if (end > bytes.length) throw new RangeError('a truncated batch');
    onPacket(bytes.subarray(offset + HEADER, end));
    offset = end;
    count++;
  }
  return count;
}
