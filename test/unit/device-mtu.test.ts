// The device pads transport data to the link's MTU as last told (Device.setMtu), as wireguard-go
// pads to tun.mtu after each EventMTUUpdate: a change applies to the packets sent after it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DevicePair, ipv4 } from '../lib/device-pair.ts';
import { DeviceConfigError } from '../../helper/src/wireguard/config.ts';

/** Length of the last transport message A sent: header 16 + padded packet + tag 16. */
function lastTransportLength(pair: DevicePair): number {
  const sent = pair.sentBy('a', 4);
  return sent.at(-1)!.packet.length;
}

test('an MTU change applies to the next packet: padding up to the new MTU, never past it', async () => {
  const pair = await DevicePair.create({ a: { mtu: 1420 } });
  pair.sendFromA(20);
  pair.sendFromB(20);
  assert.equal(pair.a.mtu, 1420);

  // A 1430-byte packet over a 1420 MTU: only its last 10 bytes are a "unit", padded to 16.
  pair.sendFromA(1410);
  assert.equal(lastTransportLength(pair), 32 + 1430 + 6);

  assert.equal(pair.a.setMtu(1500), true);
  assert.equal(pair.a.mtu, 1500);
  pair.sendFromA(1410);
  assert.equal(lastTransportLength(pair), 32 + 1440, 'padded to a multiple of 16 under the new MTU');
  // 1495 bytes would round up to 1504: capped at the MTU.
  pair.sendFromA(1475);
  assert.equal(lastTransportLength(pair), 32 + 1500);

  assert.equal(pair.a.setMtu(33_000), true);
  pair.sendFromA(32_977);
  assert.equal(lastTransportLength(pair), 32 + 33_000, 'a 33 KB MTU');
  assert.deepEqual(pair.tunB.at(-1), ipv4('192.0.2.1', '192.0.2.2', 32_977), 'delivered whole, unpadded');

  assert.equal(pair.a.setMtu(33_000), false, 'the same MTU is no change');
});

test('an MTU no link can have is refused', async () => {
  const pair = await DevicePair.create();
  for (const mtu of [-1, 65_536, 1.5, Number.NaN])
    assert.throws(() => pair.a.setMtu(mtu), DeviceConfigError, String(mtu));
  assert.equal(pair.a.mtu, 1420, 'unchanged');
});
