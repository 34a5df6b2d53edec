// The relay URL rules (shared/src/relay-url.ts), the one copy the helper parses with
// (helper/src/transport/relay-url.ts) and the renderer's transport form checks with
// (app/renderer/src/lib/transport.ts): each problem as a kind with its details, the first rule
// broken winning, and the canonical URL of what passes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  checkRelayUrl,
  formatRelayUrl,
  MAX_RELAY_PATH,
  MAX_RELAY_URL,
  type RelayUrlProblem,
} from '../../shared/src/relay-url.ts';

const problemOf = (text: string): RelayUrlProblem => {
  const checked = checkRelayUrl(text);
  assert.ok(!checked.ok, `${text} is refused`);
  return checked.problem;
};

test('a relay URL comes back canonical: lower case, IPv6 compressed, default ports, "/" for no path', () => {
  assert.deepEqual(checkRelayUrl('WSS://Relay.Example.COM/wg'), {
    ok: true,
    url: { scheme: 'wss', host: 'relay.example.com', port: 443, path: '/wg' },
  });
  assert.deepEqual(checkRelayUrl('ws://[2001:DB8:0:0::1]'), {
    ok: true,
    url: { scheme: 'ws', host: '2001:db8::1', port: 80, path: '/' },
  });
  assert.deepEqual(checkRelayUrl('tcp://192.0.2.1:8080/'), {
    ok: true,
    url: { scheme: 'tcp', host: '192.0.2.1', port: 8080, path: '' },
  });
  assert.deepEqual(checkRelayUrl('wss://[::ffff:192.0.2.1]:8443/a'), {
    ok: true,
    url: { scheme: 'wss', host: '::ffff:c000:201', port: 8443, path: '/a' },
  });
  assert.ok(checkRelayUrl('wss://relay.example.com./wg').ok, 'a fully qualified name');
  assert.ok(checkRelayUrl(`wss://r.test/${'a'.repeat(MAX_RELAY_PATH - 1)}`).ok);
  for (const text of ['tcp://[::1]:1', 'ws://a-b.example:65535/x', "wss://r.test/-._~!$&'()*+,;=:@/"]) {
    const checked = checkRelayUrl(text);
    assert.ok(checked.ok, text);
    assert.deepEqual(checkRelayUrl(formatRelayUrl(checked.url)), checked, 'formatting round-trips');
  }
});

test('each problem is a kind with what broke the rule', () => {
  const cases: Array<[string, RelayUrlProblem]> = [
    [`wss://r.test/${'a'.repeat(MAX_RELAY_URL)}`, { kind: 'tooLong', max: MAX_RELAY_URL }],
    ['', { kind: 'shape' }],
    ['relay.example.com:443', { kind: 'shape' }],
    [' wss://r.test/wg', { kind: 'shape' }],
    ['HTTP://r.test/', { kind: 'scheme', scheme: 'http' }],
    ['wss://r.test/wg?x=1', { kind: 'queryOrFragment' }],
    ['wss://r.test/wg#x', { kind: 'queryOrFragment' }],
    ['wss://r.test/w g', { kind: 'whiteSpace' }],
    ['wss://r.test/w\u00a0g', { kind: 'whiteSpace' }],
    ['wss://user:pw@r.test/wg', { kind: 'credentials' }],
    ['wss://[::1/wg', { kind: 'unterminatedIpv6' }],
    ['wss://[::1]x/wg', { kind: 'afterAddress', after: 'x' }],
    ['wss://[Relay]/wg', { kind: 'notIpv6', address: 'Relay' }],
    ['wss://[fe80::1%eth0]/wg', { kind: 'notIpv6', address: 'fe80::1%eth0' }],
    ['wss://[192.0.2.1]/wg', { kind: 'notIpv6', address: '192.0.2.1' }],
    ['wss://[1::2::3]/wg', { kind: 'notIpv6', address: '1::2::3' }],
    ['wss://2001:db8::1/wg', { kind: 'ipv6NeedsBrackets' }],
    ['wss://:443/wg', { kind: 'noHost' }],
    ['wss:///wg', { kind: 'noHost' }],
    ['wss://Bad_Host/wg', { kind: 'host', host: 'Bad_Host' }],
    ['tcp://999.1.1.1:443', { kind: 'host', host: '999.1.1.1' }],
    ['tcp://01.2.3.4:443', { kind: 'host', host: '01.2.3.4' }],
    ['tcp://1.2.3:443', { kind: 'host', host: '1.2.3' }],
    [`wss://${'a'.repeat(250)}.com/`, { kind: 'host', host: `${'a'.repeat(250)}.com` }],
    ['tcp://r.test:0', { kind: 'port', port: '0' }],
    ['tcp://r.test:65536', { kind: 'port', port: '65536' }],
    ['tcp://r.test:', { kind: 'port', port: '' }],
    ['tcp://r.test:http', { kind: 'port', port: 'http' }],
    ['tcp://r.test', { kind: 'needsPort', scheme: 'tcp' }],
    ['tcp://r.test:443/wg', { kind: 'tcpPath' }],
    [`wss://r.test/${'a'.repeat(MAX_RELAY_PATH)}`, { kind: 'pathTooLong', max: MAX_RELAY_PATH }],
    ['wss://r.test/w%20g', { kind: 'pathCharacters' }],
    ['wss://r.test/ä', { kind: 'pathCharacters' }],
  ];
  for (const [text, problem] of cases) assert.deepEqual(problemOf(text), problem, text);
});

test('the first rule broken is the one reported', () => {
  // A query is named before white space, a bad host before a bad port, a port before a path.
  assert.equal(problemOf('wss://r.test/w g?x').kind, 'queryOrFragment');
  assert.equal(problemOf('tcp://bad_host:0').kind, 'host');
  assert.equal(problemOf('tcp://r.test:0/wg').kind, 'port');
  assert.equal(problemOf('tcp://r.test/wg').kind, 'needsPort');
  // The length bound comes before everything else.
  assert.equal(problemOf(`udp://${'a'.repeat(MAX_RELAY_URL)}`).kind, 'tooLong');
});

test('the renderer can import it: no Node modules, only shared/src/ip.ts', () => {
  const source = readFileSync(new URL('../../shared/src/relay-url.ts', import.meta.url), 'utf8');
  const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
  assert.deepEqual(imports, ['./ip.ts']);
});
