// Which `ip -o monitor link address route` lines count as a change of network: a packet capture
// toggling promiscuous mode on a link is none (it made the relay fallback probe UDP at the wrong time).

import assert from 'node:assert/strict';
import test from 'node:test';
import { networkChangeFilter } from '../../helper/src/service/network-watch_linux.ts';

const link = (flags: string, state = 'UP') =>
  `3: eth0@if2: <${flags}> mtu 1500 qdisc noqueue state ${state} group default \\    link/ether 2e:15:3e:23:dc:66 brd ff:ff:ff:ff:ff:ff`;

test('promiscuous mode on and off is no change of network; up, down and addresses are', () => {
  const isChange = networkChangeFilter();
  assert.equal(isChange(link('BROADCAST,MULTICAST,UP,LOWER_UP')), true, 'first seen');
  assert.equal(isChange(link('BROADCAST,MULTICAST,PROMISC,UP,LOWER_UP')), false, 'promisc on');
  assert.equal(isChange(link('BROADCAST,MULTICAST,UP,LOWER_UP')), false, 'promisc off');
  assert.equal(isChange(link('BROADCAST,MULTICAST,ALLMULTI,UP,LOWER_UP')), false, 'allmulti');
  assert.equal(isChange(link('NO-CARRIER,BROADCAST,MULTICAST,UP', 'DOWN')), true, 'carrier lost');
  assert.equal(isChange(link('BROADCAST,MULTICAST,UP,LOWER_UP')), true, 'carrier back');
  assert.equal(isChange('3: eth0    inet 192.0.2.9/24 scope global eth0'), true, 'an address');
  assert.equal(isChange('192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.9'), true, 'a route');
  assert.equal(isChange(`Deleted ${link('BROADCAST,MULTICAST')}`), true, 'a link gone');
});
