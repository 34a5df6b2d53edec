import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import test from 'node:test';
import { TcpCoalescer } from '../../helper/src/tun/gro_linux.ts';
import { splitOffloaded, VIRTIO_NET_HDR_SIZE } from '../../helper/src/tun/offload_linux.ts';

const ACK = 0x10;
const PSH = 0x08;
const SYN = 0x02;

/** RFC 1071, written out independently of the code under test. */
function onesComplementSum(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i]! * 256 + (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

interface SegmentOptions {
  version?: 4 | 6;
  sequence: number;
  payload: Buffer;
  flags?: number;
  sourcePort?: number;
  ack?: number;
  /** IPv4 ID: senders count it up per segment, and so does segmentation. */
  id?: number;
}

/** A TCP segment with valid checksums, as the device hands it to the TUN. */
function segment({
  version = 4,
  sequence,
  payload,
  flags = ACK,
  sourcePort = 5201,
  ack = 1000,
  id = 0,
}: SegmentOptions) {
  const tcp = Buffer.alloc(32 + payload.length);
  tcp.writeUInt16BE(sourcePort, 0);
  tcp.writeUInt16BE(40000, 2);
  tcp.writeUInt32BE(sequence >>> 0, 4);
  tcp.writeUInt32BE(ack, 8);
  tcp[12] = 8 << 4; // with a 12-byte timestamp option, as Linux sends
  tcp[13] = flags;
  tcp.writeUInt16BE(500, 14);
  tcp.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], 20);
  payload.copy(tcp, 32);
  let ip: Buffer;
  let pseudo: Buffer;
  if (version === 4) {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + tcp.length, 2);
    ip.writeUInt16BE(id, 4);
    ip.writeUInt16BE(0x4000, 6); // DF
    ip[8] = 64;
    ip[9] = 6;
    ip.set([192, 0, 2, 2, 192, 0, 2, 1], 12);
    ip.writeUInt16BE(~onesComplementSum(ip) & 0xffff, 10);
    pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 6, tcp.length >> 8, tcp.length & 0xff])]);
  } else {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(tcp.length, 4);
    ip[6] = 6;
    ip[7] = 64;
    ip.set([0xfd, 0, 0, 6, ...new Array<number>(11).fill(0), 2], 8);
    ip.set([0xfd, 0, 0, 6, ...new Array<number>(11).fill(0), 1], 24);
    pseudo = Buffer.concat([
      ip.subarray(8, 40),
      Buffer.from([0, 0, tcp.length >> 8, tcp.length & 0xff, 0, 0, 0, 6]),
    ]);
  }
  tcp.writeUInt16BE(~onesComplementSum(Buffer.concat([pseudo, tcp])) & 0xffff, 16);
  return Buffer.concat([ip, tcp]);
}

/** Runs packets (behind zeroed header room) through a coalescer; returns the frames it wrote. */
function coalesce(packets: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  const write = (frame: Uint8Array) => frames.push(Buffer.from(frame));
  const coalescer = new TcpCoalescer();
  for (const packet of packets)
    coalescer.add(Buffer.concat([Buffer.alloc(VIRTIO_NET_HDR_SIZE), packet]), write);
  coalescer.flush(write);
  return frames;
}

/** What the kernel would make of a frame: cut it the way a NIC would, with our own TSO code. */
function resegment(frame: Buffer): Buffer[] {
  // The kernel finishes a CHECKSUM_PARTIAL checksum itself; our splitter does the same for TSO.
  const packets: Buffer[] = [];
  assert.equal(
    splitOffloaded(frame, Buffer.alloc(65535), (p) => packets.push(Buffer.from(p))),
    true,
  );
  return packets;
}

for (const version of [4, 6] as const) {
  test(`IPv${version}: a run of segments becomes one super-packet the kernel cuts back into the same segments`, () => {
    const payloads = [...Array.from({ length: 30 }, () => randomBytes(1368)), randomBytes(200)];
    let sequence = 0xfffff000; // wraps within the run
    const packets = payloads.map((payload, i) => {
      const packet = segment({
        version,
        sequence,
        payload,
        flags: i === payloads.length - 1 ? ACK | PSH : ACK,
        id: i,
      });
      sequence += payload.length;
      return packet;
    });
    const frames = coalesce(packets);
    assert.equal(frames.length, 1);
    const frame = frames[0]!;
    assert.equal(frame[0], 1, 'NEEDS_CSUM');
    assert.equal(frame[1], version === 4 ? 1 : 4, 'TCPv4 / TCPv6 segmentation');
    assert.equal(frame.readUInt16LE(4), 1368, 'segment size');
    assert.deepEqual(resegment(frame), packets);
  });
}

test('segments that must not join are written as they came, in order', () => {
  const a = (sequence: number, extra: Partial<SegmentOptions> = {}) =>
    segment({ sequence, payload: Buffer.alloc(1000, sequence & 0xff), id: sequence / 1000, ...extra });
  const broken = a(3000);
  broken[broken.length - 1]! ^= 0xff; // a checksum that does not verify
  const packets = [
    a(0),
    a(1000),
    a(5000), // a gap in the sequence
    a(6000, { sourcePort: 9 }), // another stream
    a(7000, { flags: ACK | SYN }),
    a(8000, { ack: 2 }),
    broken,
    segment({ sequence: 9000, payload: Buffer.alloc(0) }), // a bare ACK
  ];
  const frames = coalesce(packets);
  // The first two join; everything after stands alone.
  assert.equal(frames.length, packets.length - 1);
  assert.deepEqual(resegment(frames[0]!), packets.slice(0, 2));
  frames.slice(1).forEach((frame, i) => {
    assert.ok(
      frame.subarray(0, VIRTIO_NET_HDR_SIZE).every((byte) => byte === 0),
      'a header asking nothing',
    );
    assert.deepEqual(frame.subarray(VIRTIO_NET_HDR_SIZE), packets[i + 2]);
  });
});

test('a shorter segment or PSH ends a super-packet; the size limit starts a new one', () => {
  const run = (sizes: number[], pushAt = -1) => {
    let sequence = 0;
    return sizes.map((size, i) => {
      const packet = segment({
        sequence,
        payload: randomBytes(size),
        flags: i === pushAt ? ACK | PSH : ACK,
        id: i,
      });
      sequence += size;
      return packet;
    });
  };
  const short = run([1000, 1000, 500, 1000]);
  assert.deepEqual(
    coalesce(short).map((f) => resegment(f).length),
    [3, 1],
  );
  const pushed = run([1000, 1000, 1000], 1);
  assert.deepEqual(
    coalesce(pushed).map((f) => resegment(f).length),
    [2, 1],
  );
  const many = run(Array.from({ length: 60 }, () => 1368));
  const frames = coalesce(many);
  assert.ok(frames.every((f) => f.length - VIRTIO_NET_HDR_SIZE <= 65535));
  assert.deepEqual(frames.flatMap(resegment), many);
});
