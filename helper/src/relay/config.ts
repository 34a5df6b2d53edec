// phantommesh-relay's command line, checked whole before anything listens: every mistake is reported
// with the option it is in, and the process exits non-zero (exit 2) instead of half starting.

import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { parseHostPort } from '../../../shared/src/ip.ts';
import { formatRelayUrl, parseRelayUrl, RelayUrlError, type RelayUrl } from '../transport/relay-url.ts';
import { MAX_DATAGRAM } from '../transport/stream-framing.ts';
import type { TlsFiles } from './listen-websocket.ts';
import type { RelayLimits } from './relay-context.ts';

export const USAGE = `usage: phantommesh-relay --listen URL [--listen URL ...] --to HOST:PORT
                         [--cert FILE --key FILE] [--client-ca FILE] [--max-clients N]
                         [--max-clients-per-ip N] [--idle-timeout SECONDS]
                         [--handshake-timeout SECONDS] [--metrics ADDR:PORT]

Carries WireGuard over TCP and WebSocket to a stock WireGuard server (--to, its UDP address):
one UDP socket per client connection.

  --listen URL          tcp://ADDR:PORT       datagrams framed with a 2-byte length (the framing of
                                              Mullvad's udp-over-tcp)
                        ws://ADDR:PORT/PATH   one WebSocket binary message per datagram, for
                                              running behind a TLS-terminating reverse proxy
                        wss://ADDR:PORT/PATH  the same over TLS, terminated here (--cert, --key)
                        An IPv6 ADDR is written in brackets: tcp://[::]:443
  --to HOST:PORT        the WireGuard server's UDP address (resolved once, at start)
  --cert, --key FILE    PEM certificate chain and private key for wss://
  --client-ca FILE      wss:// demands a client certificate signed by this CA (mutual TLS)
  --max-clients N       connections at a time, in all (default 256)
  --max-clients-per-ip N  from one source address (default 32; loopback, a local reverse proxy,
                        is not limited per address)
  --idle-timeout S      close a connection after S seconds without a datagram (default 180)
  --handshake-timeout S the TLS handshake and WebSocket upgrade must be done within S (default 10)
  --metrics ADDR:PORT   Prometheus text on http://ADDR:PORT/metrics; ADDR must be 127.0.0.1 or [::1]

SIGUSR1 logs the counters; SIGTERM and SIGINT close every connection and exit.`;

export class RelayConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RelayConfigError';
  }
}

export interface RelayConfig {
  listen: RelayUrl[];
  to: { host: string; port: number };
  tls?: TlsFiles;
  limits: RelayLimits;
  metrics?: { address: string; port: number };
}

export const DEFAULT_LIMITS: RelayLimits = {
  maxClients: 256,
  maxClientsPerIp: 32,
  idleTimeoutMs: 180_000,
  handshakeTimeoutMs: 10_000,
  maxDatagram: MAX_DATAGRAM,
  // About 200 full-size WireGuard packets to one client: a client this far behind has stalled.
  maxBuffered: 256 * 1024,
  maxUpstreamQueue: 256 * 1024,
};

/** Parses and checks the arguments (reading the certificate files); throws RelayConfigError. */
export function parseRelayArgs(args: string[]): RelayConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string', multiple: true },
        to: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        'client-ca': { type: 'string' },
        'max-clients': { type: 'string' },
        'max-clients-per-ip': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'handshake-timeout': { type: 'string' },
        metrics: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new RelayConfigError((error as Error).message);
  }
  if (values.help) return 'help';

  if (!values.listen?.length)
    throw new RelayConfigError('--listen is required (tcp://, ws:// or wss:// URL)');
  const listen = values.listen.map((text) => {
    try {
      return parseRelayUrl(text);
    } catch (error) {
      if (error instanceof RelayUrlError) throw new RelayConfigError(`--listen ${error.message}`);
      throw error;
    }
  });
  const seen = new Set<string>();
  for (const url of listen) {
    const where = `${url.host}:${url.port}`;
    if (seen.has(where))
      throw new RelayConfigError(`--listen ${formatRelayUrl(url)}: ${where} is listed twice`);
    seen.add(where);
  }

  if (values.to === undefined)
    throw new RelayConfigError('--to HOST:PORT is required (the WireGuard server)');
  const to = parseHostPort(values.to);
  if (!to)
    throw new RelayConfigError(`--to ${JSON.stringify(values.to)}: not HOST:PORT (IPv6 as [ADDR]:PORT)`);

  const wantsTls = listen.some((url) => url.scheme === 'wss');
  let tls: TlsFiles | undefined;
  if (wantsTls) {
    if (values.cert === undefined || values.key === undefined)
      throw new RelayConfigError('--cert and --key are required for a wss:// --listen');
    tls = {
      cert: readOption('--cert', values.cert),
      key: readOption('--key', values.key),
      clientCa:
        values['client-ca'] === undefined ? undefined : readOption('--client-ca', values['client-ca']),
    };
    try {
      createSecureContext({ cert: tls.cert, key: tls.key });
    } catch (error) {
      throw new RelayConfigError(
        `--cert/--key: not a usable certificate and key: ${(error as Error).message}`,
      );
    }
    if (tls.clientCa !== undefined) {
      try {
        createSecureContext({ ca: tls.clientCa });
      } catch (error) {
        throw new RelayConfigError(
          `--client-ca ${values['client-ca']}: not a PEM certificate: ${(error as Error).message}`,
        );
      }
      if (!tls.clientCa.toString('latin1').includes('-----BEGIN CERTIFICATE-----'))
        throw new RelayConfigError(`--client-ca ${values['client-ca']}: not a PEM certificate`);
    }
  } else {
    for (const option of ['cert', 'key', 'client-ca'] as const)
      if (values[option] !== undefined)
        throw new RelayConfigError(`--${option} is only used by a wss:// --listen, and there is none`);
  }

  const limits: RelayLimits = {
    ...DEFAULT_LIMITS,
    maxClients: count('--max-clients', values['max-clients'], DEFAULT_LIMITS.maxClients),
    maxClientsPerIp: count(
      '--max-clients-per-ip',
      values['max-clients-per-ip'],
      DEFAULT_LIMITS.maxClientsPerIp,
    ),
    idleTimeoutMs: seconds('--idle-timeout', values['idle-timeout'], DEFAULT_LIMITS.idleTimeoutMs),
    handshakeTimeoutMs: seconds(
      '--handshake-timeout',
      values['handshake-timeout'],
      DEFAULT_LIMITS.handshakeTimeoutMs,
    ),
  };

  let metrics: RelayConfig['metrics'];
  if (values.metrics !== undefined) {
    const where = parseHostPort(values.metrics);
    if (!where) throw new RelayConfigError(`--metrics ${JSON.stringify(values.metrics)}: not ADDR:PORT`);
    // The two names isLoopbackHost accepts in Host (besides localhost): a scraper must be able to name it.
    if (where.host !== '127.0.0.1' && where.host !== '::1')
      throw new RelayConfigError(
        `--metrics ${values.metrics}: only 127.0.0.1 or [::1] (the metrics are for local scrapers only)`,
      );
    metrics = { address: where.host, port: where.port };
  }
  return { listen, to, tls, limits, metrics };
}

function readOption(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new RelayConfigError(
      `${option} ${path}: cannot read it: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

function count(option: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^[1-9][0-9]{0,6}$/.test(text))
    throw new RelayConfigError(`${option} ${text}: not a whole number from 1 to 9999999`);
  return Number(text);
}

function seconds(option: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  if (!/^[0-9]{1,6}(\.[0-9]{1,3})?$/.test(text) || Number(text) <= 0)
    throw new RelayConfigError(`${option} ${text}: not a positive number of seconds`);
  return Math.round(Number(text) * 1000);
}
