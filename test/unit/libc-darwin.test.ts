// Darwin's struct layouts and constants (helper/src/libc_darwin.ts), checked on Linux against the
// values in the macOS SDK headers (<sys/socket.h>, <netinet/in.h>, <sys/kern_control.h>,
// <net/if_utun.h>, <sys/ucred.h>, <sys/ioccom.h>): nothing here calls libSystem.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AF_INET6,
  CTL_INFO_SIZE,
  CTLIOCGINFO,
  ctlInfo,
  ctlInfoId,
  frameUtun,
  ifreqMtu,
  ifreqMtuOf,
  readSockaddrDarwin,
  readXucred,
  SIOCGIFMTU,
  SIOCSIFMTU,
  sockaddrCtl,
  sockaddrUn,
  utunHeaderFamily,
  writeSockaddrDarwin,
  XUCRED_SIZE,
} from '../../helper/src/libc_darwin.ts';

test('ioctl numbers match the SDK: CTLIOCGINFO, SIOCGIFMTU, SIOCSIFMTU', () => {
  assert.equal(CTL_INFO_SIZE, 100);
  assert.equal(CTLIOCGINFO, 0xc0644e03);
  assert.equal(SIOCGIFMTU, 0xc0206933);
  assert.equal(SIOCSIFMTU, 0x80206934);
});

test('sockaddr_in has sa_len 16 and family 2; sockaddr_in6 has 28, family 30 and the scope id', () => {
  const out = Buffer.alloc(28, 0xee);
  assert.equal(writeSockaddrDarwin(out, 4, Uint8Array.of(192, 0, 2, 1), 51820), 16);
  assert.deepEqual([...out.subarray(0, 16)], [16, 2, 0xca, 0x6c, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const v6 = Buffer.alloc(28);
  const address = Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1);
  assert.equal(writeSockaddrDarwin(v6, 6, address, 443, 7), 28);
  assert.equal(v6[0], 28);
  assert.equal(v6[1], AF_INET6);
  assert.equal(v6.readUInt16BE(2), 443);
  assert.equal(v6.readUInt32BE(4), 0);
  assert.deepEqual([...v6.subarray(8, 24)], [...address]);
  assert.equal(v6.readUInt32LE(24), 7);
});

test('a received sockaddr reads back as the endpoint, IPv4-mapped as IPv4, a scope as %index', () => {
  const out = Buffer.alloc(28);
  writeSockaddrDarwin(out, 4, Uint8Array.of(198, 51, 100, 2), 51820);
  assert.deepEqual(readSockaddrDarwin(out), { address: '198.51.100.2', port: 51820, family: 4 });
  writeSockaddrDarwin(out, 6, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1), 9);
  assert.deepEqual(readSockaddrDarwin(out), { address: '10.0.0.1', port: 9, family: 4 });
  writeSockaddrDarwin(out, 6, Uint8Array.of(0xfe, 0x80, ...new Array(13).fill(0), 1), 9, 4);
  assert.deepEqual(readSockaddrDarwin(out), { address: 'fe80::1%4', port: 9, family: 6 });
  out[1] = 1;
  assert.equal(readSockaddrDarwin(out), null);
});

test('sockaddr_ctl is 32 bytes: sc_len, AF_SYSTEM, AF_SYS_CONTROL, id, unit, zeroes', () => {
  const address = sockaddrCtl(0x12345678, 0);
  assert.equal(address.length, 32);
  assert.deepEqual([...address.subarray(0, 12)], [32, 32, 2, 0, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
  assert.ok(address.subarray(12).every((byte) => byte === 0));
  assert.equal(sockaddrCtl(1, 5).readUInt32LE(8), 5);
});

test('ctl_info carries the control name after the id, and the id is read back', () => {
  const info = ctlInfo('com.apple.net.utun_control');
  assert.equal(info.length, 100);
  assert.equal(info.subarray(4, 30).toString(), 'com.apple.net.utun_control');
  assert.equal(info[30], 0);
  info.writeUInt32LE(42, 0);
  assert.equal(ctlInfoId(info), 42);
  assert.throws(() => ctlInfo('x'.repeat(96)), RangeError);
});

test('ifreq: 16-byte name then the MTU', () => {
  const ifr = ifreqMtu('utun4', 1420);
  assert.equal(ifr.length, 32);
  assert.equal(ifr.subarray(0, 5).toString(), 'utun4');
  assert.equal(ifreqMtuOf(ifr), 1420);
  assert.throws(() => ifreqMtu('x'.repeat(16)), RangeError);
});

test('utun frames: the address family in network order in front of the packet', () => {
  const out = Buffer.alloc(64);
  const v4 = Uint8Array.of(0x45, 0, 0, 20);
  assert.equal(frameUtun(out, v4), 8);
  assert.deepEqual([...out.subarray(0, 8)], [0, 0, 0, 2, 0x45, 0, 0, 20]);
  assert.equal(frameUtun(out, Uint8Array.of(0x60, 0)), 6);
  assert.deepEqual([...out.subarray(0, 4)], [0, 0, 0, 30]);
  assert.equal(frameUtun(out, Uint8Array.of(0x10)), 0);
  assert.equal(frameUtun(out, new Uint8Array(0)), 0);
  assert.equal(frameUtun(Buffer.alloc(5), v4), 0);
  assert.equal(utunHeaderFamily(Uint8Array.of(0x45)), 2);
});

test('sockaddr_un has sun_len and AF_UNIX, a NUL-terminated path, at most 103 bytes', () => {
  const address = sockaddrUn('/tmp/n.sock');
  assert.equal(address[0], address.length);
  assert.equal(address[1], 1);
  assert.equal(address.subarray(2, 13).toString(), '/tmp/n.sock');
  assert.equal(address.at(-1), 0);
  assert.throws(() => sockaddrUn(`/${'x'.repeat(103)}`), RangeError);
});

test('xucred: version, uid, the group count and the groups at offset 12', () => {
  assert.equal(XUCRED_SIZE, 76);
  const buffer = Buffer.alloc(76);
  buffer.writeUInt32LE(0, 0);
  buffer.writeUInt32LE(501, 4);
  buffer.writeInt16LE(3, 8);
  buffer.writeUInt32LE(20, 12);
  buffer.writeUInt32LE(12, 16);
  buffer.writeUInt32LE(80, 20);
  assert.deepEqual(readXucred(buffer), { version: 0, uid: 501, groups: [20, 12, 80] });
  buffer.writeInt16LE(99, 8);
  assert.equal(readXucred(buffer).groups.length, 16);
});
