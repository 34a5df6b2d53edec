import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import test from 'node:test';
import { splitOffloaded, sum16, VIRTIO_NET_HDR_SIZE } from '../../helper/src/tun/offload_linux.ts';

const NEEDS_CSUM = 1;
const TCPV4 = 1;
const TCPV6 = 4;
const UDP_L4 = 5;
const ECN = 0x80;
const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

/** RFC 1071, written out independently of the code under test: a valid checksum sums to 0xffff. */
function onesComplementSum(...parts: Uint8Array[]): number {
  const bytes = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i]! * 256 + (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

function pseudoHeader(packet: Buffer, protocol: number, l4Length: number): Buffer {
  const v4 = packet[0]! >> 4 === 4;
  const addresses = v4 ? packet.subarray(12, 20) : packet.subarray(8, 40);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(protocol, 0);
  tail.writeUInt16BE(l4Length, 2);
  return Buffer.concat([addresses, tail]);
}

function vnetHeader(fields: {
  flags: number;
  gsoType: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}) {
  const header = Buffer.alloc(VIRTIO_NET_HDR_SIZE);
  header[0] = fields.flags;
  header[1] = fields.gsoType;
  header.writeUInt16LE(fields.gsoSize, 4);
  header.writeUInt16LE(fields.csumStart, 6);
  header.writeUInt16LE(fields.csumOffset, 8);
  return header;
}

function ipHeader(version: 4 | 6, protocol: number, payloadLength: number): Buffer {
  if (version === 4) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + payloadLength, 2);
    ip.writeUInt16BE(0xfffe, 4); // the ID wraps within the burst
    ip[8] = 64;
    ip[9] = protocol;
    ip.set([192, 0, 2, 1, 192, 0, 2, 2], 12);
    return ip;
  }
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(payloadLength, 4);
  ip[6] = protocol;
  ip[7] = 64;
  ip.set([0xfd, 0, 0, 6, ...new Array<number>(11).fill(0), 1], 8);
  ip.set([0xfd, 0, 0, 6, ...new Array<number>(11).fill(0), 2], 24);
  return ip;
}

function tcpSuperPacket(version: 4 | 6, payload: Buffer, flags: number): Buffer {
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(5201, 2);
  tcp.writeUInt32BE(0xfffff000, 4); // the sequence number wraps within the burst
  tcp.writeUInt32BE(77, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(64000, 14);
  return Buffer.concat([ipHeader(version, 6, tcp.length + payload.length), tcp, payload]);
}

function split(read: Buffer): { ok: boolean; packets: Buffer[] } {
  const packets: Buffer[] = [];
  const ok = splitOffloaded(read, Buffer.alloc(65535), (packet) => packets.push(Buffer.from(packet)));
  return { ok, packets };
}

for (const version of [4, 6] as const) {
  test(`an IPv${version} TCP super-packet becomes MSS-sized segments with valid headers and checksums`, () => {
    const payload = randomBytes(4000);
    const packet = tcpSuperPacket(version, payload, ACK | PSH | FIN | CWR);
    const ipLength = version === 4 ? 20 : 40;
    const header = vnetHeader({
      flags: NEEDS_CSUM,
      gsoType: (version === 4 ? TCPV4 : TCPV6) | ECN,
      gsoSize: 1400,
      csumStart: ipLength,
      csumOffset: 16,
    });
    const { ok, packets } = split(Buffer.concat([header, packet]));
    assert.equal(ok, true);
    assert.deepEqual(
      packets.map((p) => p.length),
      [ipLength + 20 + 1400, ipLength + 20 + 1400, ipLength + 20 + 1200],
    );
    packets.forEach((segment, i) => {
      if (version === 4) {
        assert.equal(segment.readUInt16BE(2), segment.length, 'total length');
        assert.equal(segment.readUInt16BE(4), (0xfffe + i) & 0xffff, 'IP ID counts up');
        assert.equal(onesComplementSum(segment.subarray(0, 20)), 0xffff, 'IPv4 header checksum');
      } else {
        assert.equal(segment.readUInt16BE(4), segment.length - 40, 'payload length');
      }
      const tcp = segment.subarray(ipLength);
      assert.equal(tcp.readUInt32BE(4), (0xfffff000 + i * 1400) % 2 ** 32, 'sequence number');
      const last = i === packets.length - 1;
      assert.equal(tcp[13], ACK | (last ? PSH | FIN : 0) | (i === 0 ? CWR : 0), 'flags');
      assert.equal(onesComplementSum(pseudoHeader(segment, 6, tcp.length), tcp), 0xffff, 'TCP checksum');
    });
    assert.deepEqual(Buffer.concat(packets.map((p) => p.subarray(ipLength + 20))), payload);
  });
}

test('a single packet with a partial checksum gets it completed (UDP: zero goes out as 0xffff)', () => {
  const udp = Buffer.alloc(8 + 333);
  randomBytes(333).copy(udp, 8);
  udp.writeUInt16BE(53, 0);
  udp.writeUInt16BE(5353, 2);
  udp.writeUInt16BE(udp.length, 4);
  const packet = Buffer.concat([ipHeader(4, 17, udp.length), udp]);
  // What the kernel leaves in the field: the folded pseudo-header sum, not inverted.
  packet.writeUInt16BE(onesComplementSum(pseudoHeader(packet, 17, udp.length)), 26);
  const header = vnetHeader({ flags: NEEDS_CSUM, gsoType: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 });
  const { ok, packets } = split(Buffer.concat([header, packet]));
  assert.equal(ok, true);
  assert.equal(packets.length, 1);
  const out = packets[0]!;
  assert.notEqual(out.readUInt16BE(26), 0);
  assert.equal(onesComplementSum(pseudoHeader(out, 17, udp.length), out.subarray(20)), 0xffff);
});

test('a packet that asks for nothing passes through untouched', () => {
  const packet = tcpSuperPacket(4, randomBytes(100), ACK);
  const header = vnetHeader({ flags: 0, gsoType: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
  const { ok, packets } = split(Buffer.concat([header, packet]));
  assert.equal(ok, true);
  assert.deepEqual(packets, [packet]);
});

test('offloads we never enabled and nonsensical headers are refused, nothing handed on', () => {
  const v4 = tcpSuperPacket(4, randomBytes(3000), ACK);
  const v6 = tcpSuperPacket(6, randomBytes(3000), ACK);
  const tso = { flags: NEEDS_CSUM, gsoType: TCPV4, gsoSize: 1400, csumStart: 20, csumOffset: 16 };
  const cases: Array<[string, Buffer]> = [
    ['header only', vnetHeader(tso)],
    ['UDP segmentation', Buffer.concat([vnetHeader({ ...tso, gsoType: UDP_L4 }), v4])],
    ['TCPv4 segmentation of an IPv6 packet', Buffer.concat([vnetHeader(tso), v6])],
    ['segment size 0', Buffer.concat([vnetHeader({ ...tso, gsoSize: 0 }), v4])],
    ['TCP header outside the packet', Buffer.concat([vnetHeader({ ...tso, csumStart: 3100 }), v4])],
    ['TCP header inside the IP header', Buffer.concat([vnetHeader({ ...tso, csumStart: 8 }), v4])],
    [
      'checksum field outside the packet',
      Buffer.concat([vnetHeader({ ...tso, gsoType: 0, csumStart: 3000, csumOffset: 60 }), v4]),
    ],
  ];
  for (const [what, read] of cases) assert.deepEqual(split(read), { ok: false, packets: [] }, what);
});

test('sum16 gives the same sum at every alignment and length, word-wise or byte-wise', () => {
  const bytes = randomBytes(4096);
  for (const start of [0, 1, 2, 3, 4, 20]) {
    for (const end of [start, start + 1, start + 31, start + 32, start + 33, start + 1441, 4096]) {
      const expected = onesComplementSum(bytes.subarray(start, end));
      let sum = sum16(bytes, start, end, 0);
      while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
      assert.equal(sum, expected, `bytes ${start}..${end}`);
    }
  }
});
