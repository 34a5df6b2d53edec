// phantommesh-relay's arguments (helper/src/relay/config.ts): a usable configuration, and every
// mistake named by its option; the admission limits (helper/src/relay/admission.ts); the counters'
// Prometheus text (helper/src/relay/counters.ts).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admission } from '../../helper/src/relay/admission.ts';
import { DEFAULT_LIMITS, parseRelayArgs, RelayConfigError } from '../../helper/src/relay/config.ts';
import { RelayCounters, renderPrometheus, summaryLine } from '../../helper/src/relay/counters.ts';

let dir: string;
let cert: string;
let key: string;
let otherKey: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rl-config-'));
  cert = join(dir, 'cert.pem');
  key = join(dir, 'key.pem');
  otherKey = join(dir, 'other.pem');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  execFileSync(
    'openssl',
    ['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=relay.test'],
    {
      stdio: 'ignore',
    },
  );
  execFileSync(
    'openssl',
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', otherKey],
    {
      stdio: 'ignore',
    },
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a full configuration', () => {
  const config = parseRelayArgs([
    '--listen',
    'tcp://0.0.0.0:443',
    '--listen',
    'wss://[::]:8443/wg',
    '--to',
    '127.0.0.1:51820',
    '--cert',
    cert,
    '--key',
    key,
    '--client-ca',
    cert,
    '--max-clients',
    '10',
    '--max-clients-per-ip',
    '2',
    '--idle-timeout',
    '1.5',
    '--handshake-timeout',
    '3',
    '--metrics',
    '[::1]:9100',
  ]);
  assert.notEqual(config, 'help');
  if (config === 'help') return;
  assert.deepEqual(
    config.listen.map((url) => `${url.scheme} ${url.host} ${url.port} ${url.path}`),
    ['tcp 0.0.0.0 443 ', 'wss :: 8443 /wg'],
  );
  assert.deepEqual(config.to, { host: '127.0.0.1', port: 51820 });
  assert.ok(config.tls?.clientCa);
  assert.deepEqual(config.metrics, { address: '::1', port: 9100 });
  assert.equal(config.limits.maxClients, 10);
  assert.equal(config.limits.maxClientsPerIp, 2);
  assert.equal(config.limits.idleTimeoutMs, 1500);
  assert.equal(config.limits.handshakeTimeoutMs, 3000);
  assert.equal(config.limits.maxDatagram, 65535);
});

test('defaults: 256 clients, 180 s idle, 10 s handshake', () => {
  const config = parseRelayArgs(['--listen', 'ws://127.0.0.1:8080/wg', '--to', 'wg.example.com:51820']);
  assert.ok(config !== 'help');
  assert.deepEqual(config.limits, DEFAULT_LIMITS);
  assert.equal(DEFAULT_LIMITS.maxClients, 256);
  assert.equal(DEFAULT_LIMITS.idleTimeoutMs, 180_000);
  assert.equal(parseRelayArgs(['--help']), 'help');
});

test('every mistake names its option', () => {
  const base = ['--to', '127.0.0.1:51820'];
  const cases: Array<[string[], RegExp]> = [
    [base, /--listen is required/],
    [['--listen', 'tcp://0.0.0.0:443'], /--to HOST:PORT is required/],
    [['--listen', 'tcp://0.0.0.0', ...base], /--listen "tcp:\/\/0\.0\.0\.0": tcp:\/\/ needs a port/],
    [['--listen', 'http://0.0.0.0:80', ...base], /--listen .*unsupported scheme/],
    [
      ['--listen', 'tcp://0.0.0.0:443', '--listen', 'ws://0.0.0.0:443/x', ...base],
      /0\.0\.0\.0:443 is listed twice/,
    ],
    [['--listen', 'tcp://0.0.0.0:443', '--to', '127.0.0.1'], /--to "127\.0\.0\.1": not HOST:PORT/],
    [['--listen', 'wss://0.0.0.0:443/wg', ...base], /--cert and --key are required for a wss:\/\//],
    [
      ['--listen', 'wss://0.0.0.0:443/wg', ...base, '--cert', join(dir, 'missing'), '--key', key],
      /--cert \S+missing: cannot read it: ENOENT/,
    ],
    [
      ['--listen', 'wss://0.0.0.0:443/wg', ...base, '--cert', cert, '--key', dir],
      /--key \S+: cannot read it: EISDIR/,
    ],
    [
      ['--listen', 'wss://0.0.0.0:443/wg', ...base, '--cert', cert, '--key', otherKey],
      /--cert\/--key: not a usable certificate and key/,
    ],
    [['--listen', 'wss://0.0.0.0:443/wg', ...base, '--cert', key, '--key', key], /--cert\/--key/],
    [
      ['--listen', 'wss://0.0.0.0:443/wg', ...base, '--cert', cert, '--key', key, '--client-ca', key],
      /--client-ca \S+: not a PEM certificate/,
    ],
    [
      ['--listen', 'tcp://0.0.0.0:443', ...base, '--cert', cert],
      /--cert is only used by a wss:\/\/ --listen/,
    ],
    [
      ['--listen', 'ws://0.0.0.0:80/wg', ...base, '--client-ca', cert],
      /--client-ca is only used by a wss:\/\//,
    ],
    [['--listen', 'tcp://0.0.0.0:443', ...base, '--max-clients', '0'], /--max-clients 0: not a whole number/],
    [['--listen', 'tcp://0.0.0.0:443', ...base, '--max-clients-per-ip', 'x'], /--max-clients-per-ip x/],
    [
      ['--listen', 'tcp://0.0.0.0:443', ...base, '--idle-timeout', '0'],
      /--idle-timeout 0: not a positive number/,
    ],
    [['--listen', 'tcp://0.0.0.0:443', ...base, '--handshake-timeout', '-1'], /--handshake-timeout/],
    [
      ['--listen', 'tcp://0.0.0.0:443', ...base, '--metrics', '0.0.0.0:9100'],
      /--metrics 0\.0\.0\.0:9100: only 127\.0\.0\.1 or \[::1\]/,
    ],
    [['--listen', 'tcp://0.0.0.0:443', ...base, '--metrics', '9100'], /--metrics "9100": not ADDR:PORT/],
    [['--listen', 'tcp://0.0.0.0:443', ...base, '--bogus'], /Unknown option '--bogus'/],
    [['--listen', 'tcp://0.0.0.0:443', ...base, 'extra'], /positional/],
  ];
  for (const [args, reason] of cases)
    assert.throws(
      () => parseRelayArgs(args),
      (error: unknown) => error instanceof RelayConfigError && reason.test(error.message),
      `${args.join(' ')} should fail with ${reason}`,
    );
});

test('admission: a global limit and one per source address; loopback is limited only globally', () => {
  const admission = new Admission(4, 2);
  assert.equal(admission.admit('198.51.100.7'), undefined);
  assert.equal(admission.admit('::ffff:198.51.100.7'), undefined, 'the same host over a dual-stack socket');
  assert.equal(admission.admit('198.51.100.7'), 'per-ip');
  assert.equal(admission.admit('127.0.0.1'), undefined);
  assert.equal(admission.admit('127.0.0.1'), undefined);
  assert.equal(admission.current, 4);
  assert.equal(admission.admit('203.0.113.9'), 'max-clients');
  admission.release('198.51.100.7');
  assert.equal(admission.admit('198.51.100.7'), undefined, 'a released slot is free again');
  admission.release('2001:db8::99');
  assert.equal(admission.current, 4, 'releasing what was never admitted changes nothing');
});

test('counters as Prometheus text and as one log line', () => {
  const counters = new RelayCounters();
  counters.connections = 2;
  counters.sessionsTotal = 5;
  counters.reject('tls');
  counters.reject('tls');
  counters.drop('client-buffer-full');
  counters.close('idle');
  counters.datagramsUp = 3;
  counters.bytesUp = 444;
  const text = renderPrometheus(counters);
  assert.match(text, /^# TYPE phantommesh_relay_connections gauge\nphantommesh_relay_connections 2$/m);
  assert.match(text, /^phantommesh_relay_rejected_connections_total\{reason="tls"\} 2$/m);
  assert.match(text, /^phantommesh_relay_dropped_datagrams_total\{reason="client-buffer-full"\} 1$/m);
  assert.match(text, /^phantommesh_relay_bytes_total\{direction="up"\} 444$/m);
  assert.match(
    summaryLine(counters),
    /^metrics: connections 2 now, 5 sessions in total, rejected 2 \(tls 2\); up 3 datagrams 444 bytes, .*dropped 1 \(client-buffer-full 1\); closed 1 \(idle 1\)$/,
  );
});
