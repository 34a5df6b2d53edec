import { request } from 'node:http';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMetrics, serveMetrics, type TunnelMetrics } from '../../helper/src/service/metrics.ts';

const sample: TunnelMetrics = {
  name: 'wg"0',
  connected: true,
  upSince: 1_000_000,
  handshakesCompleted: 3,
  handshakeRetries: 2,
  reconnects: 1,
  rxBytes: 12345n,
  txBytes: 678n,
  dropped: new Map([
    ['replayed', 4],
    ['decryptFailed', 1],
  ]),
};

test('renders Prometheus text with escaped labels and one line per drop reason', () => {
  const text = renderMetrics([sample], 1_061_000);
  assert.match(text, /^# TYPE phantommesh_handshakes_total counter$/m);
  assert.match(text, /^phantommesh_handshakes_total\{tunnel="wg\\"0"\} 3$/m);
  assert.match(text, /^phantommesh_tunnel_up_seconds\{tunnel="wg\\"0"\} 61$/m);
  assert.match(text, /^phantommesh_received_bytes_total\{tunnel="wg\\"0"\} 12345$/m);
  assert.match(text, /^phantommesh_dropped_packets_total\{tunnel="wg\\"0",reason="replayed"\} 4$/m);
  assert.match(text, /^phantommesh_dropped_packets_total\{tunnel="wg\\"0",reason="decryptFailed"\} 1$/m);
});

test('serves /metrics on 127.0.0.1, 404 elsewhere', async () => {
  const server = await serveMetrics(0, () => [sample]);
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /phantommesh_reconnects_total\{tunnel="wg\\"0"\} 1/);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 404);
  } finally {
    await server.close();
  }
});

test('a DNS-rebinding page gets nothing: any Host but the loopback names is refused', async () => {
  const server = await serveMetrics(0, () => [sample]);
  try {
    const ask = (host: string) =>
      new Promise<number>((resolve, reject) => {
        request({ host: '127.0.0.1', port: server.port, path: '/metrics', headers: { host } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        })
          .on('error', reject)
          .end();
      });
    assert.equal(await ask(`attacker.example:${server.port}`), 421);
    assert.equal(await ask('127.0.0.1'), 421, 'another port is another origin');
    assert.equal(await ask(`localhost:${server.port}`), 200);
    assert.equal(await ask(`127.0.0.1:${server.port}`), 200);
  } finally {
    await server.close();
  }
});
