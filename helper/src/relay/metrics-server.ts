// --metrics ADDR:PORT: the counters as Prometheus text, on a loopback address only. Requests must
// name that loopback endpoint in Host, as the helper's own endpoint demands (isLoopbackHost: a web
// page can point a name it controls at 127.0.0.1, DNS rebinding, but it cannot claim these names).

import { createServer, type Server } from 'node:http';
import { isLoopbackHost } from '../service/metrics.ts';

export function serveRelayMetrics(
  address: string,
  port: number,
  render: () => string,
): Promise<{ close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (!isLoopbackHost(request.headers.host, port)) {
      response.writeHead(421).end(`misdirected request: use http://${hostText(address)}:${port}/metrics\n`);
      return;
    }
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404).end('not found\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(render());
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      server.on('error', () => {});
      resolve({ close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

const hostText = (address: string): string => (address.includes(':') ? `[${address}]` : address);
