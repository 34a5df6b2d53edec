// The 2-byte length framing (helper/src/transport/stream-framing.ts): whatever the chunking, the
// decoder gives back exactly the datagrams encoded, and it refuses a frame over its bound.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeFrame,
  FrameTooLargeError,
  MAX_DATAGRAM,
  StreamDeframer,
} from '../../helper/src/transport/stream-framing.ts';

const datagram = (length: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff));

/** Everything the decoder emits for `chunks`, copied (emitted views may share the chunk). */
function decode(chunks: Uint8Array[], max?: number): Buffer[] {
  const deframer = new StreamDeframer(max);
  const out: Buffer[] = [];
  for (const chunk of chunks) deframer.push(chunk, (d) => out.push(Buffer.from(d)));
  return out;
}

test('a frame is the 2-byte big-endian length, then the datagram', () => {
  assert.deepEqual([...encodeFrame(Buffer.from([9, 8, 7]))], [0, 3, 9, 8, 7]);
  const big = encodeFrame(datagram(0x1234, 1));
  assert.equal(big.readUInt16BE(0), 0x1234);
  assert.equal(big.length, 0x1234 + 2);
  assert.deepEqual([...encodeFrame(new Uint8Array(0))], [0, 0]);
});

test('encoding refuses a datagram the length cannot express', () => {
  assert.doesNotThrow(() => encodeFrame(new Uint8Array(MAX_DATAGRAM)));
  assert.throws(() => encodeFrame(new Uint8Array(MAX_DATAGRAM + 1)), FrameTooLargeError);
});

test('frames merged into one chunk come out one by one, in order', () => {
  const datagrams = [datagram(148, 1), datagram(92, 2), datagram(32, 3), datagram(1400, 4)];
  assert.deepEqual(decode([Buffer.concat(datagrams.map(encodeFrame))]), datagrams);
});

test('frames split at every possible byte, and one byte at a time', () => {
  const datagrams = [datagram(5, 1), datagram(0, 0), datagram(300, 2), datagram(1, 3)];
  const stream = Buffer.concat(datagrams.map(encodeFrame));
  for (let cut = 0; cut <= stream.length; cut++)
    assert.deepEqual(decode([stream.subarray(0, cut), stream.subarray(cut)]), datagrams, `cut at ${cut}`);
  assert.deepEqual(decode([...stream].map((byte) => Uint8Array.of(byte))), datagrams);
});

test('a zero-length frame is an empty datagram', () => {
  assert.deepEqual(decode([Uint8Array.of(0, 0, 0, 0)]), [Buffer.alloc(0), Buffer.alloc(0)]);
});

test('a frame over the bound throws, and the decoder stays refused', () => {
  const deframer = new StreamDeframer(1500);
  const emitted: number[] = [];
  const over = encodeFrame(datagram(1501, 1));
  assert.throws(
    () => deframer.push(Buffer.concat([encodeFrame(datagram(10, 2)), over]), (d) => emitted.push(d.length)),
    (error: unknown) => error instanceof FrameTooLargeError && error.length === 1501 && error.max === 1500,
  );
  assert.deepEqual(emitted, [10], 'what came before the bad frame was delivered');
  assert.throws(() => deframer.push(encodeFrame(datagram(1, 1)), () => {}), FrameTooLargeError);
});

test('the bound is checked on the length, before any of the payload arrives', () => {
  const deframer = new StreamDeframer(100);
  deframer.push(Uint8Array.of(0xff), () => {});
  assert.throws(() => deframer.push(Uint8Array.of(0xff), () => {}), FrameTooLargeError);
});

test('what it holds between chunks is bounded by the frame it is assembling', () => {
  const deframer = new StreamDeframer();
  assert.equal(deframer.buffered, 0);
  deframer.push(Uint8Array.of(0x01), () => {});
  assert.equal(deframer.buffered, 1);
  deframer.push(Uint8Array.of(0x00, 1, 2, 3), () => {});
  assert.equal(deframer.buffered, 256, 'the one partial frame');
  deframer.push(new Uint8Array(253), () => {});
  assert.equal(deframer.buffered, 0);
  assert.throws(() => new StreamDeframer(MAX_DATAGRAM + 1), RangeError);
});
