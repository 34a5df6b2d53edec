import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../shared/src/errors.ts';
import { checkConfig, emptyInterface, parseConfig } from '../../shared/src/config/parse.ts';
import { serializeConfig } from '../../shared/src/config/serialize.ts';
import { hasScriptHooks, type TunnelConfig } from '../../shared/src/config/types.ts';
import { decodeBase64, decodeKey, encodeKey } from '../../shared/src/keys.ts';

// Keys from the wg(8) man page examples: valid, canonical base64 of 32 bytes.
const PRIV = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PEER1 = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const PEER2 = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';
const PSK = 'HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=';

/** Joins lines so that a test's line numbers can be read off its array index + 1. */
const conf = (...lines: string[]) => lines.join('\n') + '\n';

const TYPICAL = conf(
  '[Interface]',
  `PrivateKey = ${PRIV}`,
  'Address = 10.64.0.2/32, fd00:64::2/128',
  'DNS = 10.64.0.1',
  '',
  '[Peer]',
  `PublicKey = ${PEER1}`,
  'AllowedIPs = 0.0.0.0/0, ::/0',
  'Endpoint = 203.0.113.7:51820',
  'PersistentKeepalive = 25',
);

const TYPICAL_CONFIG: TunnelConfig = {
  interface: {
    ...emptyInterface(),
    privateKey: PRIV,
    addresses: [
      { address: '10.64.0.2', bits: 32, family: 4 },
      { address: 'fd00:64::2', bits: 128, family: 6 },
    ],
    dns: ['10.64.0.1'],
  },
  peers: [
    {
      publicKey: PEER1,
      allowedIps: [
        { address: '0.0.0.0', bits: 0, family: 4 },
        { address: '::', bits: 0, family: 6 },
      ],
      endpoint: { host: '203.0.113.7', port: 51820 },
      persistentKeepalive: 25,
    },
  ],
};

test('a typical client config', () => {
  assert.deepEqual(parseConfig(TYPICAL), TYPICAL_CONFIG);
});

test('several peers, each with its own fields', () => {
  const cfg = parseConfig(
    conf(
      '[Interface]',
      `PrivateKey = ${PRIV}`,
      'ListenPort = 51820',
      '[Peer]',
      `PublicKey = ${PEER1}`,
      `PresharedKey = ${PSK}`,
      'AllowedIPs = 10.1.0.0/16',
      '[Peer]',
      `PublicKey = ${PEER2}`,
      'AllowedIPs = 10.2.0.0/16',
      'AllowedIPs = 10.3.0.0/16',
    ),
  );
  assert.equal(cfg.interface.listenPort, 51820);
  assert.deepEqual(
    cfg.peers.map((p) => [p.publicKey, p.presharedKey, p.allowedIps.map((a) => `${a.address}/${a.bits}`)]),
    [
      [PEER1, PSK, ['10.1.0.0/16']],
      [PEER2, undefined, ['10.2.0.0/16', '10.3.0.0/16']],
    ],
  );
});

test('IPv6 everywhere, with bare addresses as host prefixes and canonical text', () => {
  const cfg = parseConfig(
    conf(
      '[Interface]',
      `PrivateKey = ${PRIV}`,
      'Address = FD00:0:0:0::2',
      'DNS = 2606:4700:4700::1111',
      '[Peer]',
      `PublicKey = ${PEER1}`,
      'AllowedIPs = ::/0, 2001:db8::/32',
      'Endpoint = [2001:db8::1]:51820',
    ),
  );
  assert.deepEqual(cfg.interface.addresses, [{ address: 'fd00::2', bits: 128, family: 6 }]);
  assert.deepEqual(cfg.interface.dns, ['2606:4700:4700::1111']);
  assert.deepEqual(
    cfg.peers[0].allowedIps.map((a) => `${a.address}/${a.bits}`),
    ['::/0', '2001:db8::/32'],
  );
  assert.deepEqual(cfg.peers[0].endpoint, { host: '2001:db8::1', port: 51820 });
});

test('comments, blank lines, odd spacing and mixed-case names read like the plain file', () => {
  const text = conf(
    '# exported by some provider',
    '',
    '  [ interface ]   # the local end',
    `privatekey=${PRIV}`,
    '  ADDRESS   =   10.64.0.2/32 ,  fd00:64::2/128   # both families',
    'dns = 10.64.0.1',
    '#[Peer]',
    '[PEER]',
    `  PublicKey =   ${PEER1}`,
    'allowedips = 0.0.0.0/0,, ::/0,   # an empty item is ignored',
    'endPoint=203.0.113.7:51820',
    'persistentkeepalive = 25',
  );
  assert.deepEqual(parseConfig(text), TYPICAL_CONFIG);
});

test('CRLF line endings and a UTF-8 byte order mark', () => {
  assert.deepEqual(parseConfig('\uFEFF' + TYPICAL.replaceAll('\n', '\r\n')), TYPICAL_CONFIG);
});

test('hooks keep their inner spacing and order; hasScriptHooks sees them', () => {
  const cfg = parseConfig(
    conf(
      '[Interface]',
      `PrivateKey = ${PRIV}`,
      'PreUp =   echo  "up  %i" > /tmp/x  ',
      'PostUp = iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE',
      'PostUp = logger  second',
      'PreDown = echo a=b',
      'PostDown = true # a comment ends the hook, as in wg-quick',
    ),
  );
  assert.deepEqual(cfg.interface.preUp, ['echo  "up  %i" > /tmp/x']);
  assert.deepEqual(cfg.interface.postUp, [
    'iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE',
    'logger  second',
  ]);
  assert.deepEqual(cfg.interface.preDown, ['echo a=b']);
  assert.deepEqual(cfg.interface.postDown, ['true']);
  assert.equal(hasScriptHooks(cfg), true);
  assert.equal(hasScriptHooks(TYPICAL_CONFIG), false);
});

test('DNS splits IP addresses from search domains, over commas, spaces and repeated lines', () => {
  const cfg = parseConfig(
    conf(
      '[Interface]',
      `PrivateKey = ${PRIV}`,
      'DNS = 10.64.0.1, corp.example.com fd00::53',
      'DNS = lan,home.arpa.',
    ),
  );
  assert.deepEqual(cfg.interface.dns, ['10.64.0.1', 'fd00::53']);
  assert.deepEqual(cfg.interface.dnsSearch, ['corp.example.com', 'lan', 'home.arpa.']);
});

test('endpoint forms: IPv4, [IPv6] and a host name', () => {
  const endpoints = ['198.51.100.1:1', '[fd00::1]:51820', 'vpn.example.com:65535'].map(
    (e) =>
      parseConfig(
        conf('[Interface]', `PrivateKey = ${PRIV}`, '[Peer]', `PublicKey = ${PEER1}`, `Endpoint = ${e}`),
      ).peers[0].endpoint,
  );
  assert.deepEqual(endpoints, [
    { host: '198.51.100.1', port: 1 },
    { host: 'fd00::1', port: 51820 },
    { host: 'vpn.example.com', port: 65535 },
  ]);
});

test('numbers, off values, Table and SaveConfig', () => {
  const iface = (line: string) => parseConfig(conf('[Interface]', `PrivateKey = ${PRIV}`, line)).interface;
  const keepalive = (value: string) =>
    parseConfig(
      conf(
        '[Interface]',
        `PrivateKey = ${PRIV}`,
        '[Peer]',
        `PublicKey = ${PEER1}`,
        `PersistentKeepalive = ${value}`,
      ),
    ).peers[0].persistentKeepalive;
  assert.equal(iface('FwMark = 0xCA6C').fwMark, 0xca6c);
  assert.equal(iface('FwMark = 51820').fwMark, 51820);
  assert.equal(iface('FwMark = 4294967295').fwMark, 0xffffffff);
  assert.equal('fwMark' in iface('FwMark = off'), false);
  assert.equal('fwMark' in iface('FwMark = 0'), false);
  assert.equal(keepalive('off'), undefined);
  assert.equal(keepalive('0'), undefined);
  assert.equal(keepalive('65535'), 65535);
  assert.equal(iface('ListenPort = 0').listenPort, 0);
  assert.equal(iface('MTU = 1280').mtu, 1280);
  assert.equal(iface('Table = Off').table, 'off');
  assert.equal(iface('Table = 1234').table, '1234');
  assert.equal(iface('Table = vpn_routes').table, 'vpn_routes');
  assert.equal(iface('SaveConfig = TRUE').saveConfig, true);
  assert.equal(iface('SaveConfig = false').saveConfig, false);
});

test('serializeConfig writes canonical wg-quick text', () => {
  // TYPICAL is written the way wg-quick writes files, so it is its own canonical form.
  assert.equal(serializeConfig(TYPICAL_CONFIG), TYPICAL);
});

test('parse(serialize(c)) gives c back, every field set', () => {
  const full: TunnelConfig = {
    interface: {
      privateKey: PRIV,
      addresses: [
        { address: '10.0.0.2', bits: 24, family: 4 },
        { address: 'fd00::2', bits: 64, family: 6 },
      ],
      dns: ['10.0.0.1', 'fd00::1'],
      dnsSearch: ['corp.example.com'],
      mtu: 1380,
      listenPort: 0,
      table: 'vpn',
      fwMark: 0xca6c,
      preUp: ['echo  pre  %i'],
      postUp: ['ip rule add a=b', 'second'],
      preDown: ['x'],
      postDown: ['y'],
      saveConfig: true,
    },
    peers: [
      {
        publicKey: PEER1,
        presharedKey: PSK,
        allowedIps: [{ address: '10.0.0.0', bits: 8, family: 4 }],
        endpoint: { host: '2001:db8::1', port: 51820 },
        persistentKeepalive: 1,
      },
      { publicKey: PEER2, allowedIps: [], endpoint: { host: 'vpn.example.com', port: 443 } },
      { publicKey: PSK, allowedIps: [] },
    ],
  };
  assert.deepEqual(parseConfig(serializeConfig(full)), full);
  assert.deepEqual(parseConfig(serializeConfig(TYPICAL_CONFIG)), TYPICAL_CONFIG);
});

test('serializeConfig refuses a value that could not be read back', () => {
  const cfg = structuredClone(TYPICAL_CONFIG);
  cfg.interface.postUp = ['echo one # two'];
  assert.throws(() => serializeConfig(cfg), /PostUp cannot be written/);
  cfg.interface.postUp = ['echo one\necho two'];
  assert.throws(() => serializeConfig(cfg), /PostUp cannot be written/);
});

const IFACE = ['[Interface]', `PrivateKey = ${PRIV}`];
const PEER = ['[Peer]', `PublicKey = ${PEER1}`];

// Each file has exactly one problem: [name, lines, error line, error key, message fragment].
const BAD: [string, string[], number, string | undefined, RegExp][] = [
  [
    'bad base64 key',
    ['[Interface]', `PrivateKey = ${PRIV.replace('+', '*')}`],
    2,
    'PrivateKey',
    /is not valid base64 \(expected a key: 44 base64/,
  ],
  [
    'key of wrong length',
    [...IFACE, '[Peer]', 'PublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=='],
    4,
    'PublicKey',
    /decodes to 31 bytes, not 32/,
  ],
  [
    'short key',
    [...IFACE, ...PEER, `PresharedKey = ${PSK.slice(1)}`],
    5,
    'PresharedKey',
    /is 43 characters long, not 44/,
  ],
  [
    'non-canonical key',
    ['[Interface]', `PrivateKey = ${PRIV.slice(0, 42)}l=`],
    2,
    'PrivateKey',
    /not valid base64/,
  ],
  [
    'bad prefix',
    [...IFACE, ...PEER, '', 'AllowedIPs = 10.0.0.0/8, 10.0.0.0/33'],
    6,
    'AllowedIPs',
    /"10\.0\.0\.0\/33" is not an IP prefix \(expected e\.g\. 10\.0\.0\.0\/24 or fd00::\/64\)/,
  ],
  ['bad address', [...IFACE, 'Address = 10.0.0.256'], 3, 'Address', /"10\.0\.0\.256" is not an IP prefix/],
  [
    'space inside AllowedIPs',
    [...IFACE, ...PEER, 'AllowedIPs = 10.0.0.0/8 10.1.0.0/16'],
    5,
    'AllowedIPs',
    /is not an IP prefix/,
  ],
  [
    'bad port',
    [...IFACE, 'ListenPort = 65536'],
    3,
    'ListenPort',
    /65536 is out of range \(expected a port from 1024 to 65535, or 0 for a random one/,
  ],
  ['port that is not a number', [...IFACE, 'ListenPort = http'], 3, 'ListenPort', /"http" is not a number/],
  [
    'bad endpoint',
    [...IFACE, ...PEER, 'Endpoint = 2001:db8::1:51820'],
    5,
    'Endpoint',
    /"2001:db8::1:51820" is not an endpoint \(expected host:port/,
  ],
  ['endpoint port 0', [...IFACE, ...PEER, 'Endpoint = 203.0.113.7:0'], 5, 'Endpoint', /is not an endpoint/],
  [
    'MTU too small',
    [...IFACE, 'MTU = 500'],
    3,
    'MTU',
    /500 is out of range \(expected a number from 576 to 65535\)/,
  ],
  [
    'keepalive too large',
    [...IFACE, ...PEER, 'PersistentKeepalive = 65536'],
    5,
    'PersistentKeepalive',
    /out of range/,
  ],
  ['fwmark too large', [...IFACE, 'FwMark = 0x100000000'], 3, 'FwMark', /is not a number/],
  [
    'bad DNS entry',
    [...IFACE, 'DNS = 10.0.0.300'],
    3,
    'DNS',
    /"10\.0\.0\.300" is not an IP address or a search domain/,
  ],
  ['bad SaveConfig', [...IFACE, 'SaveConfig = yes'], 3, 'SaveConfig', /"yes" is not true or false/],
  ['bad Table', [...IFACE, 'Table = 12ab'], 3, 'Table', /"12ab" is not a number \(expected auto, off/],
  ['empty value', [...IFACE, 'MTU ='], 3, 'MTU', /is empty \(expected a number/],
  ['empty hook', [...IFACE, 'PostUp = # nothing'], 3, 'PostUp', /is empty \(expected a shell command\)/],
  [
    'missing PrivateKey',
    ['# header', '[Interface]', 'Address = 10.0.0.2/32'],
    2,
    'PrivateKey',
    /is missing from \[Interface\]/,
  ],
  [
    'missing PublicKey',
    [...IFACE, '[Peer]', 'AllowedIPs = 10.0.0.0/8'],
    3,
    'PublicKey',
    /is missing from \[Peer\]/,
  ],
  [
    'duplicate peer',
    [...IFACE, ...PEER, ...PEER],
    6,
    'PublicKey',
    /is already a peer on line 4 \(expected each peer once\)/,
  ],
  [
    'unknown key',
    [...IFACE, 'Adress = 10.0.0.2/32'],
    3,
    'Adress',
    /is not a known \[Interface\] key \(expected one of PrivateKey, Address, DNS/,
  ],
  [
    'key in the wrong section',
    [...IFACE, 'Endpoint = 203.0.113.7:51820'],
    3,
    'Endpoint',
    /belongs in \[Peer\], not \[Interface\]/,
  ],
  ['key outside any section', ['address = 10.0.0.2/32', ...IFACE], 1, 'Address', /comes before any section/],
  [
    'unknown section',
    [...IFACE, '[Peers]', `PublicKey = ${PEER1}`],
    3,
    undefined,
    /"\[Peers\]" is not a known section/,
  ],
  [
    'second [Interface]',
    [...IFACE, '[interface]', `PrivateKey = ${PRIV}`],
    3,
    undefined,
    /\[Interface\] appears again \(first on line 1/,
  ],
  ['line without =', [...IFACE, 'Address 10.0.0.2/32'], 3, undefined, /this line has no "="/],
  ['line without a key', [...IFACE, '= 10.0.0.2'], 3, undefined, /has no key name before "="/],
  [
    'a key with a space and no "="',
    [...IFACE, `PrivateKey ${PRIV}`],
    3,
    undefined,
    /has no key name before "="/,
  ],
  [
    'duplicate PrivateKey',
    [...IFACE, 'MTU = 1420', `PrivateKey = ${PRIV}`],
    4,
    'PrivateKey',
    /is given twice \(first on line 2; expected once per section\)/,
  ],
  [
    'duplicate Endpoint',
    [...IFACE, ...PEER, 'Endpoint = a.example:1', 'Endpoint = b.example:1'],
    6,
    'Endpoint',
    /given twice/,
  ],
  ['no [Interface] at all', ['# nothing here'], 1, undefined, /there is no \[Interface\] section/],
];

for (const [name, lines, line, key, message] of BAD) {
  test(`bad file: ${name}`, () => {
    const { config, errors } = checkConfig(conf(...lines));
    assert.equal(config, null);
    assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
    const error = errors[0];
    assert.ok(error instanceof ConfigError);
    assert.equal(error.line, line);
    assert.equal(error.key, key);
    assert.match(error.message, message);
    assert.ok(error.message.startsWith(`line ${line}: ${key ? `${key}: ` : ''}`), error.message);
  });
}

test('errors never quote key text, even on malformed lines', () => {
  const secret = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg'; // no + or /, so it looks like a word
  const { errors } = checkConfig(
    conf('[Interface]', `PrivateKey = ${secret}`, `PrivateKey ${secret}=`, `${secret}=`, `${secret}`),
  );
  assert.equal(errors.length, 4);
  for (const error of errors) assert.ok(!error.message.includes(secret.slice(0, 20)), error.message);
  // Found by the fuzz campaign: a key inside a section header was quoted back.
  for (const header of [`[PublicKey = ${secret}=]`, `[${secret}=]`, `[Peer ${secret}]`]) {
    const [error] = checkConfig(conf(header)).errors;
    assert.ok(error && !error.message.includes(secret.slice(0, 20)), error?.message);
  }
  assert.match(
    checkConfig(conf('[Bogus]')).errors[0]!.message,
    /^line 1: "\[Bogus\]" is not a known section/,
  );
});

test('checkConfig reports every problem, in line order; parseConfig throws the first', () => {
  const text = conf(
    'MTU = 1420', // 1: outside any section
    '[Interface]', // 2: PrivateKey missing
    'Address = 10.0.0.2/40', // 3
    '[Peer]', // 4: PublicKey missing
    'AllowedIPs = 10.0.0.0/8',
    'Endpoint = nope', // 6
    '[Bogus]', // 7
    'Whatever = 1', // skipped: covered by the section error
  );
  const { config, errors } = checkConfig(text);
  assert.equal(config, null);
  assert.deepEqual(
    errors.map((e) => [e.line, e.key]),
    [
      [1, 'MTU'],
      [2, 'PrivateKey'],
      [3, 'Address'],
      [4, 'PublicKey'],
      [6, 'Endpoint'],
      [7, undefined],
    ],
  );
  assert.throws(
    () => parseConfig(text),
    (e) => e instanceof ConfigError && e.line === 1 && e.key === 'MTU',
  );
});

test('checkConfig on a good file returns the config and no errors', () => {
  assert.deepEqual(checkConfig(TYPICAL), { config: TYPICAL_CONFIG, errors: [] });
});

test('base64 keys: decode, encode, and strictness matching wg', () => {
  for (let length = 0; length <= 40; length++) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 97 + length * 31) & 0xff);
    const text = Buffer.from(bytes).toString('base64');
    assert.deepEqual(decodeBase64(text), bytes, text);
  }
  const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i * 7);
  assert.equal(encodeKey(key), Buffer.from(key).toString('base64'));
  assert.deepEqual(decodeKey(encodeKey(key)), key);
  assert.equal(decodeKey(PRIV)?.length, 32);
  assert.equal(decodeKey(PRIV.slice(0, 43)), null); // no padding
  assert.equal(decodeKey(`${PRIV.slice(0, 42)}l=`), null); // stray low bits
  assert.equal(decodeKey(` ${PRIV}`), null); // white space
  assert.equal(decodeKey(PRIV.replace('+', '-')), null); // URL-safe alphabet
  assert.equal(decodeKey(Buffer.alloc(33).toString('base64')), null);
  assert.throws(() => encodeKey(new Uint8Array(31)), RangeError);
});

test('what would reach beyond the tunnel is refused, naming the line and key', () => {
  const problem = (lines: string[]) => {
    try {
      parseConfig(conf('[Interface]', `PrivateKey = ${PRIV}`, ...lines));
      return null;
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return { line: error.line, key: error.key, message: error.message };
    }
  };
  for (const [line, key] of [
    ['ListenPort = 53', 'ListenPort'],
    ['ListenPort = 1023', 'ListenPort'],
    ['Table = local', 'Table'],
    ['Table = main', 'Table'],
    ['Table = 255', 'Table'],
    ['Table = 254', 'Table'],
    ['Table = 253', 'Table'],
    ['Table = 0', 'Table'],
    ['FwMark = 255', 'FwMark'],
    ['FwMark = 0xfe', 'FwMark'],
  ] as const) {
    const found = problem([line]);
    assert.ok(found, `${line} is refused`);
    assert.equal(found.line, 3, line);
    assert.equal(found.key, key, line);
  }
  for (const allowed of [['127.0.0.0/9'], ['224.0.0.251/32'], ['::1/128'], ['ff02::1/128'], ['0.0.0.0/8']]) {
    const found = problem(['[Peer]', `PublicKey = ${PEER1}`, `AllowedIPs = 192.0.2.0/24, ${allowed[0]}`]);
    assert.ok(found, `${allowed[0]} is refused`);
    assert.equal(found.line, 5);
    assert.equal(found.key, 'AllowedIPs');
    assert.match(found.message, /loopback, multicast or unspecified/);
  }
  // What a full tunnel needs stays: prefixes that merely contain loopback or multicast.
  for (const fine of ['0.0.0.0/0', '0.0.0.0/1, 128.0.0.0/1', '::/0', '::/1, 8000::/1']) {
    assert.equal(problem(['[Peer]', `PublicKey = ${PEER1}`, `AllowedIPs = ${fine}`]), null, fine);
  }
  assert.equal(problem(['ListenPort = 1024', 'Table = 1234', 'FwMark = 51820']), null);
});
