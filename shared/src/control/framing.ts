// Frames of the control socket: a u32 big-endian byte length, then that many bytes of UTF-8 JSON.

import { PhantomError } from '../errors.ts';
import { MAX_FRAME_BYTES } from './protocol.ts';

const HEADER_BYTES = 4;

export class FrameTooLargeError extends PhantomError {
  readonly bytes: number;
  constructor(bytes: number) {
    super('FRAME_TOO_LARGE', `a message of ${bytes} bytes is over the ${MAX_FRAME_BYTES}-byte limit`);
    this.name = 'FrameTooLargeError';
    this.bytes = bytes;
  }
}

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  if (body.length > MAX_FRAME_BYTES) throw new FrameTooLargeError(body.length);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, HEADER_BYTES);
  return frame;
}

/**
 * Cuts a byte stream into frame bodies, whatever the chunking. It holds at most one header and one
 * body, copied into a buffer of the announced size, so neither many tiny chunks nor a large frame cost
 * more than the frame itself. A header announcing more than MAX_FRAME_BYTES sets `error` before any of
 * that body is kept; the stream cannot be followed after it, so the caller closes the connection.
 */
export class FrameDecoder {
  error: FrameTooLargeError | null = null;
  #header = Buffer.alloc(HEADER_BYTES);
  #headerFilled = 0;
  #body: Buffer | null = null;
  #bodyFilled = 0;

  /** The frame bodies `chunk` completes, in order; those before an oversized header are kept. */
  push(chunk: Buffer): Buffer[] {
    const bodies: Buffer[] = [];
    let offset = 0;
    while (!this.error && offset < chunk.length) {
      if (this.#body === null) {
        const headerBytes = Math.min(HEADER_BYTES - this.#headerFilled, chunk.length - offset);
        chunk.copy(this.#header, this.#headerFilled, offset, offset + headerBytes);
        this.#headerFilled += headerBytes;
        offset += headerBytes;
        if (this.#headerFilled < HEADER_BYTES) break;
        this.#headerFilled = 0;
        const length = this.#header.readUInt32BE(0);
        if (length > MAX_FRAME_BYTES) {
          this.error = new FrameTooLargeError(length);
          break;
        }
        // A frame wholly inside this chunk is a view of it, without a copy.
        if (length <= chunk.length - offset) {
          bodies.push(chunk.subarray(offset, offset + length));
          offset += length;
          continue;
        }
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyFilled = 0;
      }
      const bodyBytes = Math.min(this.#body.length - this.#bodyFilled, chunk.length - offset);
      chunk.copy(this.#body, this.#bodyFilled, offset, offset + bodyBytes);
      this.#bodyFilled += bodyBytes;
      offset += bodyBytes;
      if (this.#bodyFilled === this.#body.length) {
        bodies.push(this.#body);
        this.#body = null;
      }
    }
    return bodies;
  }

  /** Bytes of an unfinished frame: non-zero at the end of a stream means the peer cut a message short. */
  get pendingBytes(): number {
    return this.#headerFilled + (this.#body ? HEADER_BYTES + this.#bodyFilled : 0);
  }
}
