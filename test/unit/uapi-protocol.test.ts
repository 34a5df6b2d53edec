import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatGetResponse, parseSetRequest } from '../../helper/src/uapi/protocol.ts';
import { UapiError } from '../../helper/src/uapi/types.ts';
import type { DeviceChange, PeerChange } from '../../helper/src/wireguard/config.ts';

const key = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const PRIVATE = '2022222222222222222222222222222222222222222222222222222222222262';
const PUBLIC = '7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13';
const PSK = '5555555555555555555555555555555555555555555555555555555555555555';
const ZERO = '0'.repeat(64);

function peer(publicKey: string, fields: Partial<PeerChange> = {}): PeerChange {
  return {
    publicKey: key(publicKey),
    remove: false,
    updateOnly: false,
    replaceAllowedIps: false,
    addAllowedIps: [],
    removeAllowedIps: [],
    ...fields,
  };
}

/** The body of a set request as `wg` sends it: split at newlines, without `set=1` and the blank line. */
const body = (text: string) => text.trim().split('\n');

test('`wg set` transcript (captured from wireguard-tools) parses into the change it means', () => {
  const change = parseSetRequest(
    body(`
private_key=${PRIVATE}
listen_port=51820
fwmark=51820
public_key=${PUBLIC}
preshared_key=${PSK}
endpoint=127.0.0.1:51820
persistent_keepalive_interval=25
replace_allowed_ips=true
allowed_ip=0.0.0.0/0
allowed_ip=::/0
`),
  );
  const expected: DeviceChange = {
    privateKey: key(PRIVATE),
    listenPort: 51820,
    fwmark: 51820,
    replacePeers: false,
    peers: [
      peer(PUBLIC, {
        presharedKey: key(PSK),
        endpoint: { address: '127.0.0.1', port: 51820, family: 4 },
        persistentKeepalive: 25,
        replaceAllowedIps: true,
        addAllowedIps: [
          { address: '0.0.0.0', bits: 0, family: 4 },
          { address: '::', bits: 0, family: 6 },
        ],
      }),
    ],
  };
  assert.deepEqual(change, expected);
});

test('`wg setconf` transcript (captured) parses with fwmark=0, replace_peers and a v6 endpoint', () => {
  const change = parseSetRequest(
    body(`
private_key=${PRIVATE}
listen_port=51821
fwmark=0
replace_peers=true
public_key=${PUBLIC}
endpoint=[::1]:51820
replace_allowed_ips=true
allowed_ip=10.0.0.0/8
allowed_ip=fd00::/64
`),
  );
  assert.deepEqual(change, {
    privateKey: key(PRIVATE),
    listenPort: 51821,
    fwmark: 0,
    replacePeers: true,
    peers: [
      peer(PUBLIC, {
        endpoint: { address: '::1', port: 51820, family: 6 },
        replaceAllowedIps: true,
        addAllowedIps: [
          { address: '10.0.0.0', bits: 8, family: 4 },
          { address: 'fd00::', bits: 64, family: 6 },
        ],
      }),
    ],
  });
});

test('an empty body changes nothing', () => {
  assert.deepEqual(parseSetRequest([]), { replacePeers: false, peers: [] });
});

test('all-zero private and preshared keys mean "remove"; hex may be upper case', () => {
  const change = parseSetRequest([
    `private_key=${ZERO}`,
    `public_key=${PUBLIC.toUpperCase()}`,
    `preshared_key=${ZERO}`,
  ]);
  assert.equal(change.privateKey, null);
  assert.deepEqual(change.peers, [peer(PUBLIC, { presharedKey: null })]);
});

test('remove, update_only, protocol_version and the keepalive bounds', () => {
  const other = 'ab'.repeat(32);
  const change = parseSetRequest([
    `public_key=${PUBLIC}`,
    'protocol_version=1',
    'remove=true',
    `public_key=${other}`,
    'update_only=true',
    'persistent_keepalive_interval=65535',
    `public_key=${PUBLIC}`,
    'persistent_keepalive_interval=0',
  ]);
  assert.deepEqual(change.peers, [
    peer(PUBLIC, { remove: true }),
    peer(other, { updateOnly: true, persistentKeepalive: 65535 }),
    peer(PUBLIC, { persistentKeepalive: 0 }),
  ]);
});

test('listen_port and fwmark take their full ranges, leading zeros included (strconv.ParseUint)', () => {
  const change = parseSetRequest(['listen_port=065535', 'fwmark=4294967295']);
  assert.equal(change.listenPort, 65535);
  assert.equal(change.fwmark, 0xffffffff);
});

test('endpoints: IPv4 and bracketed IPv6 (canonicalized)', () => {
  const endpoints = ['192.0.2.1:1', '[2001:DB8:0:0::1]:65535'].map(
    (text) => parseSetRequest([`public_key=${PUBLIC}`, `endpoint=${text}`]).peers[0]?.endpoint,
  );
  assert.deepEqual(endpoints, [
    { address: '192.0.2.1', port: 1, family: 4 },
    { address: '2001:db8::1', port: 65535, family: 6 },
  ]);
});

test('allowed_ip: host bits cleared, duplicates merged, `-prefix` removes, the later line wins', () => {
  const [change] = parseSetRequest([
    `public_key=${PUBLIC}`,
    'allowed_ip=192.0.2.77/24',
    'allowed_ip=192.0.2.0/24',
    'allowed_ip=2001:db8::1/32',
    'allowed_ip=-2001:db8::/32',
    'allowed_ip=-10.0.0.0/8',
    'allowed_ip=10.0.0.0/8',
    'allowed_ip=-198.51.100.0/24',
  ]).peers;
  assert.deepEqual(change?.addAllowedIps, [
    { address: '192.0.2.0', bits: 24, family: 4 },
    { address: '10.0.0.0', bits: 8, family: 4 },
  ]);
  assert.deepEqual(change?.removeAllowedIps, [
    { address: '2001:db8::', bits: 32, family: 6 },
    { address: '198.51.100.0', bits: 24, family: 4 },
  ]);
});

test('replace_allowed_ips undoes the allowed_ip lines before it', () => {
  const [change] = parseSetRequest([
    `public_key=${PUBLIC}`,
    'allowed_ip=192.0.2.0/24',
    'allowed_ip=-10.0.0.0/8',
    'replace_allowed_ips=true',
    'allowed_ip=fd00::/64',
  ]).peers;
  assert.equal(change?.replaceAllowedIps, true);
  assert.deepEqual(change?.addAllowedIps, [{ address: 'fd00::', bits: 64, family: 6 }]);
  assert.deepEqual(change?.removeAllowedIps, []);
});

test('bad lines throw UapiError naming the key, never the value: -71 without "=", -22 for bad keys and values', () => {
  const cases: [string[], number][] = [
    [['listen_port'], -71],
    [[`public_key=${PUBLIC}`, 'garbage'], -71],
    [['bogus=1'], -22],
    [['listen_port=65536'], -22],
    [['listen_port=-1'], -22],
    [['listen_port= 1'], -22],
    [['fwmark=0x10'], -22],
    [['fwmark=4294967296'], -22],
    [['replace_peers=false'], -22],
    [['private_key=abc'], -22],
    [[`private_key=${PRIVATE}00`], -22],
    [[`private_key=${PRIVATE.slice(2)}zz`], -22],
    [['remove=true'], -22], // a peer key before any public_key
    [['protocol_version=1'], -22], // so is this one
    [['public_key='], -22],
    [[`public_key=${PUBLIC}`, 'listen_port=1'], -22], // an interface key after a peer started
    [[`public_key=${PUBLIC}`, 'remove=1'], -22],
    [[`public_key=${PUBLIC}`, 'update_only=false'], -22],
    [[`public_key=${PUBLIC}`, 'replace_allowed_ips=yes'], -22],
    [[`public_key=${PUBLIC}`, 'preshared_key=55'], -22],
    [[`public_key=${PUBLIC}`, 'protocol_version=2'], -22],
    [[`public_key=${PUBLIC}`, 'persistent_keepalive_interval=65536'], -22],
    [[`public_key=${PUBLIC}`, 'endpoint=example.com:51820'], -22],
    [[`public_key=${PUBLIC}`, 'endpoint=192.0.2.1'], -22],
    [[`public_key=${PUBLIC}`, 'endpoint=192.0.2.1:0'], -22],
    [[`public_key=${PUBLIC}`, 'endpoint=192.0.2.1:65536'], -22],
    [[`public_key=${PUBLIC}`, 'endpoint=2001:db8::1:51820'], -22],
    [[`public_key=${PUBLIC}`, 'endpoint=[192.0.2.1]:51820'], -22],
    [[`public_key=${PUBLIC}`, 'endpoint=[fe80::1%eth0]:51820'], -22],
    [[`public_key=${PUBLIC}`, 'allowed_ip=10.0.0.1'], -22],
    [[`public_key=${PUBLIC}`, 'allowed_ip=10.0.0.0/33'], -22],
    [[`public_key=${PUBLIC}`, 'allowed_ip=fd00::/129'], -22],
    [[`public_key=${PUBLIC}`, 'allowed_ip=10.0.0.256/32'], -22],
    [[`public_key=${PUBLIC}`, 'allowed_ip=--10.0.0.0/8'], -22],
  ];
  for (const [lines, errno] of cases) {
    const bad = lines.at(-1) ?? '';
    const equals = bad.indexOf('=');
    assert.throws(
      () => parseSetRequest(lines),
      (error: unknown) =>
        error instanceof UapiError &&
        error.errno === errno &&
        (equals === -1
          ? error.message.includes(`line ${lines.length + 1}`)
          : error.message.startsWith(`${bad.slice(0, equals)}: `) &&
            (equals === bad.length - 1 || !error.message.includes(bad.slice(equals + 1)))),
      `${JSON.stringify(lines)} should fail with ${errno}, naming the key and not the value`,
    );
  }
});

test('a private or preshared key in a bad line never appears in the error (the log is group-readable)', () => {
  const secret = 'ab'.repeat(32);
  for (const lines of [
    [`private_key=${secret} `],
    [`private_key=${secret}\r`],
    [`public_key=${PUBLIC}`, `preshared_key=${secret}x`],
    [`${secret}`],
    [`private_key ${secret}`],
  ]) {
    assert.throws(
      () => parseSetRequest(lines),
      (error: unknown) => error instanceof UapiError && !error.message.includes(secret.slice(0, 16)),
      JSON.stringify(lines),
    );
  }
});

test('formatGetResponse prints what wireguard-go prints, in its order', () => {
  const text = formatGetResponse({
    privateKey: key(PRIVATE),
    listenPort: 51820,
    fwmark: 0xca6c,
    peers: [
      {
        publicKey: key(PUBLIC),
        presharedKey: key(PSK),
        endpoint: { address: '2001:db8::1', port: 51820, family: 6 },
        persistentKeepalive: 25,
        lastHandshake: { sec: 1700000000, nsec: 123456789 },
        rxBytes: 2n ** 40n,
        txBytes: 148n,
        allowedIps: [
          { address: '192.0.2.0', bits: 24, family: 4 },
          { address: 'fd00::', bits: 64, family: 6 },
        ],
      },
      {
        publicKey: key('ab'.repeat(32)),
        presharedKey: null,
        endpoint: null,
        persistentKeepalive: 0,
        lastHandshake: null,
        rxBytes: 0n,
        txBytes: 0n,
        allowedIps: [],
      },
    ],
  });
  assert.equal(
    text,
    [
      `private_key=${PRIVATE}`,
      'listen_port=51820',
      'fwmark=51820',
      `public_key=${PUBLIC}`,
      `preshared_key=${PSK}`,
      'protocol_version=1',
      'endpoint=[2001:db8::1]:51820',
      'last_handshake_time_sec=1700000000',
      'last_handshake_time_nsec=123456789',
      'tx_bytes=148',
      'rx_bytes=1099511627776',
      'persistent_keepalive_interval=25',
      'allowed_ip=192.0.2.0/24',
      'allowed_ip=fd00::/64',
      `public_key=${'ab'.repeat(32)}`,
      `preshared_key=${ZERO}`,
      'protocol_version=1',
      'last_handshake_time_sec=0',
      'last_handshake_time_nsec=0',
      'tx_bytes=0',
      'rx_bytes=0',
      'persistent_keepalive_interval=0',
      'errno=0',
      '',
      '',
    ].join('\n'),
  );
});

test('formatGetResponse omits an unset or all-zero private key, port 0 and fwmark 0', () => {
  const empty = { listenPort: 0, fwmark: 0, peers: [] };
  assert.equal(formatGetResponse({ ...empty, privateKey: null }), 'errno=0\n\n');
  assert.equal(formatGetResponse({ ...empty, privateKey: new Uint8Array(32) }), 'errno=0\n\n');
});

test('what formatGetResponse prints of a peer parses back as the same settings', () => {
  const text = formatGetResponse({
    privateKey: null,
    listenPort: 0,
    fwmark: 0,
    peers: [
      {
        publicKey: key(PUBLIC),
        presharedKey: key(PSK),
        endpoint: { address: '192.0.2.1', port: 7, family: 4 },
        persistentKeepalive: 5,
        lastHandshake: null,
        rxBytes: 0n,
        txBytes: 0n,
        allowedIps: [{ address: '10.1.0.0', bits: 16, family: 4 }],
      },
    ],
  });
  const settable = text
    .split('\n')
    .filter((line) => /^(public_key|preshared_key|endpoint|persistent|allowed_ip)/.test(line));
  assert.deepEqual(parseSetRequest(settable).peers, [
    peer(PUBLIC, {
      presharedKey: key(PSK),
      endpoint: { address: '192.0.2.1', port: 7, family: 4 },
      persistentKeepalive: 5,
      addAllowedIps: [{ address: '10.1.0.0', bits: 16, family: 4 }],
    }),
  ]);
});
