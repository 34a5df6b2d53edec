// An opt-in Prometheus text endpoint on 127.0.0.1: only local scrapers, never the network.

import type { Server } from 'node:http';

export interface TunnelMetrics {
  name: string;
  connected: boolean;
  /** Wall-clock ms the tunnel came up; undefined when it is down. */
  upSince: number | undefined;
  handshakesCompleted: number;
  handshakeRetries: number;
  reconnects: number;
  rxBytes: bigint;
  txBytes: bigint;
  dropped: ReadonlyMap<string, number>;
}

const escapeLabel = (value: string) =>
  value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderMetrics(tunnels: TunnelMetrics[], now = Date.now()): string {
  const out: string[] = [];
  const family = (
    name: string,
    type: 'counter' | 'gauge',
    help: string,
    rows: Array<[string, number | bigint]>,
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) out.push(`${name}{${labels}} ${value}`);
  };
  const each = (value: (t: TunnelMetrics) => number | bigint): Array<[string, number | bigint]> =>
    tunnels.map((t) => [`tunnel="${escapeLabel(t.name)}"`, value(t)]);
  family(
    'phantommesh_tunnel_connected',
    'gauge',
    'Whether the tunnel has a live session.',
    each((t) => (t.connected ? 1 : 0)),
  );
  family(
    'phantommesh_tunnel_up_seconds',
    'gauge',
    'Seconds since the tunnel was brought up.',
    each((t) => (t.upSince === undefined ? 0 : Math.max(0, Math.round((now - t.upSince) / 1000)))),
  );
  family(
    'phantommesh_handshakes_total',
    'counter',
    'Handshakes completed.',
    each((t) => t.handshakesCompleted),
  );
  family(
    'phantommesh_handshake_retries_total',
    'counter',
    'Handshake initiations that got no answer and were sent again.',
    each((t) => t.handshakeRetries),
  );
  family(
    'phantommesh_reconnects_total',
    'counter',
    'Reconnection attempts.',
    each((t) => t.reconnects),
  );
  family(
    'phantommesh_received_bytes_total',
    'counter',
    'Bytes received from peers.',
    each((t) => t.rxBytes),
  );
  family(
    'phantommesh_sent_bytes_total',
    'counter',
    'Bytes sent to peers.',
    each((t) => t.txBytes),
  );
  family(
    'phantommesh_dropped_packets_total',
    'counter',
    'Packets dropped, by reason.',
    tunnels.flatMap((t) =>
      [...t.dropped].map(([reason, count]): [string, number] => [
        `tunnel="${escapeLabel(t.name)}",reason="${reason}"`,
        count,
      ]),
    ),
  );
  return out.join('\n') + '\n';
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Whether a request's Host names this loopback endpoint. A web page the user opens can point a name
 * it controls at 127.0.0.1 (DNS rebinding) and then read the answer as same-origin: checking Host
 * refuses every name but the loopback ones, which no page can claim.
 */
export function isLoopbackHost(host: string | undefined, port: number): boolean {
  if (host === undefined) return false;
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host.toLowerCase());
}

export function serveMetrics(port: number, collect: () => TunnelMetrics[]): Promise<MetricsServer> {
  let bound = port;
  // Loaded only when metrics are turned on, and not as an ES import: importing node:http reads every
  // export, and its WebSocket getters load Node's internal undici, ~5 MB of RSS (measured on the
  // shipped bundle, 71.3 -> 66.0 MB idle) that a helper with metrics off would carry all day.
  const { createServer } = process.getBuiltinModule('node:http');
  const server: Server = createServer((request, response) => {
    if (!isLoopbackHost(request.headers.host, bound)) {
      response.writeHead(421).end('misdirected request: use http://127.0.0.1:PORT/metrics\n');
      return;
    }
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end('not found\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(collect()));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      bound = typeof address === 'object' && address ? address.port : port;
      resolve({
        port: bound,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
