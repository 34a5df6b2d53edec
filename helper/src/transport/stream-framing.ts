// WireGuard datagrams on a byte stream (TCP): each one preceded by its length as 2 bytes, big
// endian. This is the framing of Mullvad's udp-over-tcp (`udp2tcp` / `tcp2udp`), so a PhantomMesh
// relay or client interoperates with theirs by construction. Pure: no sockets, no clock.
//
// The length field cannot say more than 65535, so a frame is bounded by construction; the decoder
// takes a lower bound too (a client that only ever sends WireGuard messages has no business sending
// 64 KiB datagrams), and holds at most one partial frame, so its memory is bounded by that bound.

/** The largest datagram the 2-byte length can carry (and the largest UDP payload over IPv4). */
export const MAX_DATAGRAM = 0xffff;
/** Bytes of the length prefix. */
export const FRAME_HEADER = 2;

/** A frame announced a datagram longer than the decoder's bound: the stream is not ours to trust. */
export class FrameTooLargeError extends Error {
  readonly length: number;
  readonly max: number;
  constructor(length: number, max: number) {
    super(`frame of ${length} bytes exceeds the limit of ${max}`);
    this.name = 'FrameTooLargeError';
    this.length = length;
    this.max = max;
  }
}

/** One datagram as a frame: length prefix and payload in one buffer, so it is one write. */
export function encodeFrame(datagram: Uint8Array): Buffer {
  if (datagram.length > MAX_DATAGRAM) throw new FrameTooLargeError(datagram.length, MAX_DATAGRAM);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + datagram.length);
  frame.writeUInt16BE(datagram.length, 0);
  frame.set(datagram, FRAME_HEADER);
  return frame;
}

/**
 * Cuts a byte stream back into datagrams, whatever the chunks: a frame split across reads, several
 * frames in one read, a length prefix split in two. Zero-length frames are datagrams of zero bytes
 * (udp-over-tcp forwards them as such); what to do with them is the caller's decision.
 *
 * A datagram handed to `emit` may share memory with the chunk it came from (no copy for a frame that
 * arrived whole): the caller owns the chunk, so it may keep the datagram, but must not change the
 * chunk afterwards. After a FrameTooLargeError the decoder is poisoned: it throws again on any input.
 */
export class StreamDeframer {
  private readonly max: number;
  /** The first byte of a length prefix that arrived alone, or -1. */
  private headerByte = -1;
  /** The frame being assembled across chunks, and how much of it has arrived. */
  private partial: Buffer | undefined;
  private filled = 0;
  private failed: FrameTooLargeError | undefined;

  constructor(maxDatagram: number = MAX_DATAGRAM) {
    if (!Number.isInteger(maxDatagram) || maxDatagram < 0 || maxDatagram > MAX_DATAGRAM)
      throw new RangeError(`maxDatagram ${maxDatagram}: not in 0..${MAX_DATAGRAM}`);
    this.max = maxDatagram;
  }

  /** Bytes held between calls (a lone prefix byte, or the buffer of a partial frame): at most the
   *  bound, or 1. */
  get buffered(): number {
    return (this.headerByte === -1 ? 0 : 1) + (this.partial?.length ?? 0);
  }

  /** Feeds one chunk of the stream; calls `emit` once per complete datagram, in order. */
  push(chunk: Uint8Array, emit: (datagram: Uint8Array) => void): void {
    if (this.failed) throw this.failed;
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.partial) {
        const take = Math.min(this.partial.length - this.filled, end - at);
        this.partial.set(chunk.subarray(at, at + take), this.filled);
        this.filled += take;
        at += take;
        if (this.filled < this.partial.length) return;
        const datagram = this.partial;
        this.partial = undefined;
        this.filled = 0;
        emit(datagram);
        continue;
      }
      let length: number;
      if (this.headerByte !== -1) {
        length = (this.headerByte << 8) | chunk[at]!;
        this.headerByte = -1;
        at += 1;
      } else if (end - at >= FRAME_HEADER) {
        length = (chunk[at]! << 8) | chunk[at + 1]!;
        at += FRAME_HEADER;
      } else {
        this.headerByte = chunk[at]!;
        return;
      }
      if (length > this.max) {
        this.failed = new FrameTooLargeError(length, this.max);
        throw this.failed;
      }
      if (end - at >= length) {
        // The whole frame is here: no copy.
        emit(chunk.subarray(at, at + length));
        at += length;
      } else {
        this.partial = Buffer.allocUnsafe(length);
        this.filled = 0;
      }
    }
  }
}
