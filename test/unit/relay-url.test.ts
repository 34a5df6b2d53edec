// Relay URLs (helper/src/transport/relay-url.ts: the rules of shared/src/relay-url.ts, refused in
// English) and the WireGuard message shape check (helper/src/transport/wireguard-message.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRelayUrl, parseRelayUrl, RelayUrlError } from '../../helper/src/transport/relay-url.ts';
import { isWireGuardMessage } from '../../helper/src/transport/wireguard-message.ts';

test('tcp, ws and wss URLs parse, with default ports for ws and wss', () => {
  assert.deepEqual(parseRelayUrl('tcp://203.0.113.5:443'), {
    scheme: 'tcp',
    host: '203.0.113.5',
    port: 443,
    path: '',
  });
  assert.deepEqual(parseRelayUrl('tcp://[2001:DB8::1]:8080/'), {
    scheme: 'tcp',
    host: '2001:db8::1',
    port: 8080,
    path: '',
  });
  assert.deepEqual(parseRelayUrl('WSS://Relay.Example.com/wg'), {
    scheme: 'wss',
    host: 'relay.example.com',
    port: 443,
    path: '/wg',
  });
  assert.deepEqual(parseRelayUrl('ws://0.0.0.0:8080'), {
    scheme: 'ws',
    host: '0.0.0.0',
    port: 8080,
    path: '/',
  });
  assert.equal(parseRelayUrl('wss://[::]:8443/a/b-c_d.e~f').path, '/a/b-c_d.e~f');
  assert.equal(formatRelayUrl(parseRelayUrl('wss://[2001:db8:0::1]/x')), 'wss://[2001:db8::1]:443/x');
  assert.equal(formatRelayUrl(parseRelayUrl('tcp://relay.test:1')), 'tcp://relay.test:1');
});

test('each mistake is refused with its reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['relay.example.com:443', /not a URL/],
    ['http://relay.test/wg', /unsupported scheme http:/],
    ['udp://relay.test:1', /unsupported scheme/],
    ['tcp://relay.test', /needs a port/],
    ['tcp://relay.test:0', /port "0" is not in 1\.\.65535/],
    ['tcp://relay.test:65536', /not in 1\.\.65535/],
    ['tcp://relay.test:44a', /port "44a"/],
    ['tcp://relay.test:443/path', /tcp:\/\/ takes no path/],
    ['wss://user:secret@relay.test/wg', /credentials are not allowed/],
    ['wss://relay.test/wg?token=1', /query or fragment/],
    ['wss://relay.test/wg#x', /query or fragment/],
    ['wss://relay.test/w%20g', /the path may hold only/],
    ['wss://relay.test/w g', /white space/],
    ['wss://2001:db8::1/wg', /IPv6 address must be written in \[brackets\]/],
    ['wss://[2001:db8::1/wg', /unterminated/],
    ['wss://[not-v6]:443/wg', /is not an IPv6 address/],
    ['wss://[2001:db8::1]x/wg', /unexpected "x"/],
    ['wss://:443/wg', /no host/],
    ['wss://999.1.1.1/wg', /neither an IP address nor a host name/],
    ['wss://bad_host/wg', /neither an IP address nor a host name/],
    [`wss://relay.test/${'a'.repeat(300)}`, /the path is longer than 256/],
    [`wss://relay.test/${'a'.repeat(2100)}`, /the URL is longer than 2048 characters/],
    ['wss://relay.test/w g?x', /query or fragment/],
    ['wss://[fe80::1%eth0]/wg', /is not an IPv6 address/],
  ];
  for (const [text, reason] of cases)
    assert.throws(
      () => parseRelayUrl(text),
      (error: unknown) =>
        error instanceof RelayUrlError && error.code === 'RELAY_URL_INVALID' && reason.test(error.message),
      text,
    );
});

test('the messages name what was written: the host in lower case, the text cut at 200 characters', () => {
  const messageOf = (text: string): string => {
    try {
      parseRelayUrl(text);
    } catch (error) {
      assert.ok(error instanceof RelayUrlError);
      assert.equal(error.name, 'RelayUrlError');
      return error.message;
    }
    assert.fail(`${text} is refused`);
  };
  assert.equal(
    messageOf('wss://Bad_Host/wg'),
    '"wss://Bad_Host/wg": "bad_host" is neither an IP address nor a host name',
  );
  assert.equal(messageOf('tcp://r.test'), '"tcp://r.test": tcp:// needs a port (tcp://HOST:PORT)');
  assert.equal(messageOf('wss://[::1]x'), '"wss://[::1]x": unexpected "x" after the address');
  assert.equal(
    messageOf('HTTP://r.test'),
    '"HTTP://r.test": unsupported scheme http:// (expected tcp://, ws:// or wss://)',
  );
  const long = `wss://r.test/${'a'.repeat(300)}`;
  assert.equal(
    messageOf(long),
    `${JSON.stringify(long.slice(0, 200))}: the path is longer than 256 characters`,
  );
});

test('only datagrams shaped like WireGuard messages pass', () => {
  const message = (type: number, length: number): Uint8Array => {
    const bytes = new Uint8Array(length);
    bytes[0] = type;
    return bytes;
  };
  assert.ok(isWireGuardMessage(message(1, 148)));
  assert.ok(isWireGuardMessage(message(2, 92)));
  assert.ok(isWireGuardMessage(message(3, 64)));
  assert.ok(isWireGuardMessage(message(4, 32)), 'a keepalive');
  assert.ok(isWireGuardMessage(message(4, 1452)), 'a full 1420 MTU packet: padding stops at the MTU');
  assert.ok(!isWireGuardMessage(message(1, 149)));
  assert.ok(!isWireGuardMessage(message(2, 148)));
  assert.ok(!isWireGuardMessage(message(4, 16)));
  assert.ok(!isWireGuardMessage(message(5, 148)));
  assert.ok(!isWireGuardMessage(new Uint8Array(0)));
  const reserved = message(1, 148);
  reserved[2] = 1;
  assert.ok(!isWireGuardMessage(reserved), 'reserved bytes are zero');
  assert.ok(!isWireGuardMessage(Buffer.from('GET / HTTP/1.1\r\nHost: relay.test\r\n\r\n'.padEnd(64))));
});
