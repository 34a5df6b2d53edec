// What a wg-quick file sets on a device and which routes it adds, without an interface.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../shared/src/config/parse.ts';
import { formatPrefix } from '../../shared/src/ip.ts';
import { deviceChangeFor, routesFor } from '../../helper/src/tunnel/apply-config.ts';

const PRIVATE_KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PEER = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';

const config = (extra: string, allowed = '10.0.0.0/24, 192.0.2.0/24') =>
  parseConfig(
    `[Interface]\nPrivateKey = ${PRIVATE_KEY}\nAddress = 10.0.0.2/24\n${extra}\n` +
      `[Peer]\nPublicKey = ${PEER}\nEndpoint = 198.51.100.1:51820\nAllowedIPs = ${allowed}\n`,
  );

test('the device change replaces the peers; the port and fwmark only when the file names them', async () => {
  const bare = await deviceChangeFor(config(''));
  assert.equal(bare.replacePeers, true);
  assert.equal('listenPort' in bare, false, 'a random port stays as it is');
  assert.equal('fwmark' in bare, false);
  assert.deepEqual(Buffer.from(bare.privateKey!), Buffer.from(PRIVATE_KEY, 'base64'));
  const [peer] = bare.peers;
  assert.deepEqual(Buffer.from(peer!.publicKey), Buffer.from(PEER, 'base64'));
  assert.deepEqual(peer!.endpoint, { address: '198.51.100.1', port: 51820, family: 4 });
  assert.equal(peer!.persistentKeepalive, 0);
  assert.deepEqual(peer!.addAllowedIps.map(formatPrefix), ['10.0.0.0/24', '192.0.2.0/24']);

  const set = await deviceChangeFor(config('ListenPort = 51900\nFwMark = 7'));
  assert.equal(set.listenPort, 51900);
  assert.equal(set.fwmark, 7);
  assert.equal((await deviceChangeFor(config('FwMark = 7'), { fwmark: 51820 })).fwmark, 51820);
});

test('routes: the AllowedIPs, less what the addresses already route and the default routes', () => {
  const routes = routesFor(config('', '10.0.0.0/24, 192.0.2.7/24, 0.0.0.0/0, fd00::/64, ::/0'));
  assert.deepEqual(routes.map(formatPrefix), ['192.0.2.0/24', 'fd00::/64']);
});
