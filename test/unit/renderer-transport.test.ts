// The transport dialog's checks (app/renderer/src/lib/transport.ts): relay and proxy URLs refused with
// a message for people where the helper would refuse them, and accepted where it accepts them; which
// files go together; the IPC request a form becomes; and how a transport and its carrier read. The
// relay URL rules are the helper's own (shared/src/relay-url.ts); only the words are the renderer's.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  carriedText,
  formFrom,
  noFiles,
  proxyUrlProblem,
  relayUrlProblem,
  transportProblems,
  transportRequest,
  transportSummary,
  type TransportForm,
} from '../../app/renderer/src/lib/transport.ts';
import { TransportRequest } from '../../shared/src/ipc/schema.ts';
import { parseRelayUrl } from '../../helper/src/transport/relay-url.ts';
import { parseProxyUrl } from '../../helper/src/conn/http-connect.ts';

const TOKEN = (c: string) => c.repeat(43);

const GOOD_RELAYS = [
  'tcp://relay.example.com:443',
  'tcp://192.0.2.1:8080',
  'tcp://[2001:db8::1]:443',
  'tcp://relay.example.com:443/',
  'ws://10.0.0.1:8080/wg',
  'ws://relay.example.com/wg',
  'wss://relay.example.com/wg',
  'wss://relay.example.com:8443/wg/tunnel-1',
  'wss://[::1]:443/',
  'WSS://Relay.Example.COM/wg',
];

test('relay URLs the helper accepts pass', () => {
  for (const url of [...GOOD_RELAYS, '  wss://relay.example.com/wg  '])
    assert.equal(relayUrlProblem(url), null, url);
});

test('relay URLs the helper refuses say why', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /Enter the relay's URL|Enter the relay’s URL/],
    ['relay.example.com:443', /tcp:\/\/HOST:PORT, ws:\/\/HOST:PORT\/PATH or wss:\/\/HOST\[:PORT\]\/PATH/],
    ['https://relay.example.com/', /https:\/\/ is not a relay transport/],
    ['udp://relay.example.com:51820', /udp:\/\/ is not a relay transport/],
    ['tcp://relay.example.com', /tcp:\/\/ needs a port/],
    ['tcp://relay.example.com:0', /port “0” is not a number from 1 to 65535/],
    ['tcp://relay.example.com:65536', /65536/],
    ['tcp://relay.example.com:http', /port “http”/],
    ['tcp://relay.example.com:443/wg', /tcp:\/\/ takes no path/],
    ['wss://user:pw@relay.example.com/wg', /no user name or password/],
    ['wss://relay.example.com/wg?x=1', /no \?query or #fragment/],
    ['wss://relay.example.com/w g', /spaces/],
    ['wss://relay.example.com/wg%20x', /no % escapes/],
    ['wss://2001:db8::1/wg', /\[brackets\]/],
    ['wss://[2001:db8::1/wg', /Close the \[IPv6 address\]/],
    ['wss://[relay]/wg', /\[relay\] is not an IPv6 address/],
    ['wss://[::1]x/wg', /Unexpected “x”/],
    ['wss://:443/wg', /host is missing/],
    ['wss://relay_1.example.com/wg', /neither an IP address nor a host name/],
    ['tcp://999.1.1.1:443', /neither an IP address nor a host name/],
    [`wss://relay.example.com/${'a'.repeat(300)}`, /longer than 256/],
    [`wss://relay.example.com/${'a'.repeat(2100)}`, /At most 2048/],
    // A URL breaking two rules gets the first the helper checks: the query before the space.
    ['wss://relay.example.com/w g?x=1', /no \?query or #fragment/],
    ['wss://[fe80::1%eth0]/wg', /\[fe80::1%eth0\] is not an IPv6 address/],
    ['wss://Relay_1.example.com/wg', /“Relay_1\.example\.com” is neither/],
  ];
  for (const [url, why] of cases) {
    const problem = relayUrlProblem(url);
    assert.ok(problem, `${url} is refused`);
    assert.match(problem, why, url);
    // The helper's own parser agrees (it says so in its words).
    if (url !== '') assert.throws(() => parseRelayUrl(url), Error, `the helper refuses ${url} too`);
  }
  for (const url of GOOD_RELAYS) assert.doesNotThrow(() => parseRelayUrl(url), url);
});

test('the form refuses a relay URL exactly where the helper does', () => {
  const hosts = [
    'r.example',
    'R.Example.',
    '192.0.2.1',
    '01.2.3.4',
    '[::1]',
    '[::ffff:192.0.2.1]',
    '[1.2.3.4]',
    '[fe80::1%1]',
    'a_b',
    '',
  ];
  const ports = ['', ':0', ':1', ':65535', ':65536', ':x'];
  const paths = ['', '/', '/wg', '/w%41', '/w g', '/a?b', `/${'a'.repeat(256)}`];
  for (const scheme of ['tcp', 'ws', 'WSS', 'http'])
    for (const host of hosts)
      for (const port of ports)
        for (const path of paths) {
          const url = `${scheme}://${host}${port}${path}`;
          let helperAccepts = true;
          try {
            parseRelayUrl(url);
          } catch {
            helperAccepts = false;
          }
          assert.equal(relayUrlProblem(url) === null, helperAccepts, url);
        }
});

test('proxy URLs: empty is none; http:// only, without path; a redacted password must be retyped', () => {
  for (const proxy of [
    '',
    '  ',
    'http://proxy.example.com:3128',
    'http://user:p%40ss@10.0.0.1:8080',
    'http://[::1]:3128',
  ])
    assert.equal(proxyUrlProblem(proxy), null, proxy);
  const cases: Array<[string, RegExp]> = [
    ['https://proxy.example.com:3128', /use http:\/\/, not https:\/\//],
    ['socks5://proxy.example.com:1080', /http:\/\/HOST:PORT/],
    ['proxy.example.com:3128', /http:\/\/HOST:PORT/],
    ['http://proxy.example.com:3128/path', /no path/],
    ['http://proxy.example.com:3128?x', /no path, \?query/],
    ['http://***@proxy.example.com:3128', /stored proxy password as \*\*\*/],
    ['http://proxy .example.com', /spaces/],
    ['http://a%3Ab:c@proxy:3128', /may not contain “:”/],
    ['http://a%zz:c@proxy:3128', /invalid %-escape/],
  ];
  for (const proxy of ['http://proxy.example.com:3128', 'http://user:p%40ss@10.0.0.1:8080'])
    assert.doesNotThrow(() => parseProxyUrl(proxy), proxy);
  for (const [proxy, why] of cases) {
    const problem = proxyUrlProblem(proxy);
    assert.ok(problem, `${proxy} is refused`);
    assert.match(problem, why, proxy);
  }
});

const relay = (changes: Partial<TransportForm> = {}): TransportForm => ({
  kind: 'relay',
  url: 'wss://relay.example.com/wg',
  fallback: false,
  proxy: '',
  files: noFiles,
  keepStored: false,
  ...changes,
});
const file = (c: string) => ({ token: TOKEN(c), fileName: `${c}.pem` });

test('form problems by field: UDP has none; a certificate needs its key and a key its certificate', () => {
  assert.deepEqual(transportProblems({ ...relay({ url: 'nope' }), kind: 'udp' }), {});
  assert.deepEqual(transportProblems(relay()), {});
  assert.deepEqual(Object.keys(transportProblems(relay({ url: '', proxy: 'https://p:1' }))).sort(), [
    'proxy',
    'url',
  ]);
  assert.match(
    transportProblems(relay({ files: { ...noFiles, clientCert: file('a') } })).clientKey ?? '',
    /key of the client certificate/,
  );
  assert.match(
    transportProblems(relay({ files: { ...noFiles, clientKey: file('b') } })).clientCert ?? '',
    /client certificate this key belongs to/,
  );
  // Files are offered for wss:// only; left over from an earlier wss:// URL they are not sent.
  const leftOver = relay({
    url: 'tcp://relay.example.com:443',
    files: { ...noFiles, clientCert: file('a') },
  });
  assert.deepEqual(transportProblems(leftOver), {});
  assert.deepEqual(transportRequest('office', leftOver), {
    name: 'office',
    kind: 'relay',
    url: 'tcp://relay.example.com:443',
  });
});

test('a checked form becomes a request the IPC schema accepts: tokens, never contents', () => {
  const form = relay({
    url: ' wss://relay.example.com/wg ',
    fallback: true,
    proxy: ' http://proxy.example.com:3128 ',
    files: { clientCert: file('a'), clientKey: file('b'), ca: file('c') },
  });
  const request = transportRequest('office', form);
  assert.deepEqual(request, {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/wg',
    fallback: true,
    proxy: 'http://proxy.example.com:3128',
    clientCertToken: TOKEN('a'),
    clientKeyToken: TOKEN('b'),
    caToken: TOKEN('c'),
  });
  assert.ok(TransportRequest.safeParse(request).success);
  assert.deepEqual(transportRequest('office', { ...form, kind: 'udp' }), { name: 'office', kind: 'udp' });
  assert.ok(TransportRequest.safeParse(transportRequest('office', relay())).success);
});

test('the form opens on the stored transport; a redacted proxy is not filled in', () => {
  assert.deepEqual(formFrom(undefined), {
    kind: 'udp',
    url: '',
    fallback: false,
    proxy: '',
    files: noFiles,
    keepStored: true,
  });
  assert.deepEqual(formFrom({ kind: 'udp' }).kind, 'udp');
  assert.deepEqual(
    formFrom({ kind: 'relay', url: 'tcp://r.example:443', fallback: true, proxy: 'http://***@p:3128' }),
    {
      kind: 'relay',
      url: 'tcp://r.example:443',
      fallback: true,
      proxy: '',
      files: noFiles,
      keepStored: true,
    },
  );
  assert.equal(
    formFrom({ kind: 'relay', url: 'tcp://r.example:443', fallback: false, proxy: 'http://p:3128' }).proxy,
    'http://p:3128',
  );
});

test('how a transport and its carrier read', () => {
  assert.equal(transportSummary({ kind: 'udp' }), 'UDP (WireGuard’s own)');
  assert.equal(
    transportSummary({ kind: 'relay', url: 'wss://r.example/wg', fallback: true }),
    'Relay wss://r.example/wg, after UDP',
  );
  assert.equal(carriedText({ kind: 'udp' }), 'UDP');
  assert.equal(carriedText({ kind: 'relay', url: 'wss://r.example/wg' }), 'via relay wss://r.example/wg');
  assert.equal(carriedText({ kind: 'relay' }), 'via relay');
});

test('keeping what is stored: the request asks the helper to keep what the form gives no new value for', () => {
  assert.deepEqual(transportRequest('office', relay({ keepStored: true })), {
    name: 'office',
    kind: 'relay',
    url: 'wss://relay.example.com/wg',
    keep: ['clientCertificate', 'ca', 'proxy'],
  });
  const picked = relay({
    keepStored: true,
    proxy: 'http://proxy.example.com:3128',
    files: { clientCert: file('a'), clientKey: file('b'), ca: null },
  });
  const request = transportRequest('office', picked);
  assert.deepEqual(request.kind === 'relay' ? request.keep : undefined, ['ca']);
  assert.equal('keep' in transportRequest('office', relay()), false, 'unticked: everything replaced');
  assert.equal(formFrom({ kind: 'relay', url: 'wss://r.example/wg', fallback: false }).keepStored, true);
});
