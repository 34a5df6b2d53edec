// The client side of phantommesh-relay: WireGuard datagrams carried over one TCP connection to the
// relay, for networks that block UDP. Beside the UDP bind (bind.ts) as another transport; the device
// still sees datagrams in and out.
//
//   tcp://HOST:PORT        each datagram framed with a 2-byte big-endian length
//                          (../transport/stream-framing.ts: Mullvad's udp-over-tcp)
//   ws://HOST:PORT/PATH    one binary WebSocket message per datagram
//   wss://HOST[:PORT]/PATH the same over TLS (>= 1.2, the certificate verified against the URL's
//                          host; a client certificate for mutual TLS; a private CA instead of the
//                          system store)
//
// and any of them through an HTTP CONNECT proxy (http-connect.ts). The TCP connection carries the
// tunnel's firewall mark (marked-socket.ts), so a full tunnel's policy routing keeps it outside the
// tunnel it carries.
//
// One connection at a time. When it fails or drops, the next attempt waits an exponential backoff
// with full jitter (RECONNECT_*), so a relay that is down, or a path that refuses us, is not
// hammered, and many clients cut at once do not come back in step. While not connected, datagrams
// are dropped (and counted) as UDP would lose them: WireGuard retransmits its handshakes and the
// inner TCP its segments; queueing them for a connection that may be 30 s away would only deliver
// stale packets in a burst.
//
// The relay is untrusted input: frames are bounded (65535, the 2-byte length's own bound; ws's
// maxPayload), every datagram must be shaped like a WireGuard message, and anything else (a text
// message, garbage on the stream, a half-close) ends the connection, which is then made again.

import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { formatRelayUrl, parseRelayUrl, type RelayUrl } from '../transport/relay-url.ts';
import {
  encodeFrame,
  FrameTooLargeError,
  MAX_DATAGRAM,
  StreamDeframer,
} from '../transport/stream-framing.ts';
import { isWireGuardMessage } from '../transport/wireguard-message.ts';
import { httpConnect, parseProxyUrl, ProxyError, redactProxyUrl, type ProxyUrl } from './http-connect.ts';
import { connectMarked } from './marked-socket.ts';
import { batchWrites, batchWritesOfThisTask } from '../datapath/packet-writer.ts';
import { monotonicMs } from '../clock.ts';

export interface RelaySpec {
  /** tcp://HOST:PORT | ws://HOST:PORT/PATH | wss://HOST[:PORT]/PATH (../transport/relay-url.ts). */
  url: string;
  /** http://[user:pass@]HOST:PORT: reach the relay through an HTTP CONNECT proxy (Basic auth when
   *  credentials are in the URL). */
  proxy?: string;
  /** PEM contents (never a path: the root helper never opens a path a client names). */
  clientCert?: string;
  clientKey?: string;
  /** PEM: trust this CA for wss:// instead of (not in addition to) the system store. */
  ca?: string;
}

export type RelayState = 'connecting' | 'connected' | 'waiting' | 'closed';

export interface RelayTransportOptions {
  spec: RelaySpec;
  /**
   * Connect here instead of resolving the first hop's host name: the relay's, or the proxy's when
   * there is one (the proxy resolves the relay's name itself). The service resolves names while
   * nothing is blocked; TLS still verifies the URL's host name.
   */
  connectAddress?: string;
  /** SO_MARK on the TCP socket (0 = none), so a full tunnel's policy routing keeps the relay
   *  connection outside the tunnel. */
  fwmark: number;
  /** The buffer may share memory with the read it came from: copy what is kept past the call. */
  onDatagram: (packet: Buffer) => void;
  onState?: (state: RelayState) => void;
  log: (line: string) => void;
  /** Tuning and tests: STALL_TIMEOUT_MS unless given. */
  stallTimeoutMs?: number;
}

export interface RelayCounters {
  sent: number;
  received: number;
  dropped: number;
  connects: number;
}

export interface RelayTransport {
  /** Never throws; dropped and counted while not connected or when the socket's buffer is over a
   *  bound. */
  send(packet: Uint8Array): void;
  readonly state: RelayState;
  /** Why the last connection attempt failed or the last connection ended, for people. */
  readonly lastError: string | null;
  /** The address and port the TCP connection goes to (the proxy's when there is one): what a kill
   *  switch must allow. The host is a name only until it is first resolved (no connectAddress). */
  readonly peer: { host: string; port: number };
  readonly counters: Readonly<RelayCounters>;
  /** Applies from the next connection; a live connection is made again at once with the new mark. */
  setFwmark(mark: number): void;
  close(): Promise<void>;
}

// Reconnect backoff: the first retry comes within half a second (a relay restart, a NAT rebinding:
// the tunnel should barely notice), then the ceiling doubles to 30 s, the same order as WireGuard's
// own handshake retry horizon (REKEY_ATTEMPT_TIME 90 s spans a few attempts). Full jitter (a random
// delay in [floor, ceiling]) spreads clients that lost the relay together. A connection that lasted
// longer than RECONNECT_RESET_AFTER_MS was a working one: its loss starts the backoff over.
export const RECONNECT_FIRST_MS = 500;
export const RECONNECT_MAX_MS = 30_000;
export const RECONNECT_RESET_AFTER_MS = 30_000;
/** No attempt sooner than this, even when the jitter draws 0: a bound on the retry rate. */
const RECONNECT_FLOOR_MS = 100;
/** TCP, proxy, TLS and WebSocket handshakes together; beyond this the path is as good as blocked. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** What may wait in the socket (about 700 full-size packets): beyond it the path is not keeping up and
 *  more queueing only adds latency (bufferbloat); dropping lets the inner TCP back off. */
export const MAX_BUFFERED = 1024 * 1024;
/** TCP keepalive while idle, so that a middlebox does not forget an idle connection. */
const KEEPALIVE_MS = 15_000;
/**
 * A connection that died silently (a NAT or firewall that forgot it, a relay host that vanished)
 * takes TCP up to its retransmission timeout (about 15 min) to notice while we keep sending. WireGuard
 * never lets a packet go unanswered for long: a handshake initiation gets a response (or is retried
 * every 5 s), and data gets a keepalive back within 10 s (KEEPALIVE_TIMEOUT). So when datagrams went
 * out and nothing came back for this long, the stream is presumed dead and made again. (If the
 * WireGuard server behind a live relay is down, this costs one reconnect per STALL_TIMEOUT_MS while
 * the tunnel is trying to send: cheap, and it does not change what the user sees.)
 */
export const STALL_TIMEOUT_MS = 25_000;
/** After close() asks politely (FIN, WebSocket close), how long before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** The delay before attempt number `failures` + 1, given `failures` consecutive failures (>= 1). */
export function reconnectDelay(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.min(failures - 1, 16));
  return Math.max(RECONNECT_FLOOR_MS, Math.round(random() * ceiling));
}

/** One established connection carrying datagrams, whatever its kind. */
interface Carrier {
  /** False when over the buffer bound (the caller counts the drop). */
  send(packet: Uint8Array): boolean;
  /** Ends it; `closed` is called (with `reason` unless an error came first) once the socket is gone. */
  close(reason: string): void;
}

interface CarrierEvents {
  datagram(packet: Buffer): void;
  closed(reason: string): void;
}

/** A Node or OpenSSL error, or ours, in words for the state line. */
export function describeError(error: unknown): string {
  if (error instanceof ProxyError) return error.message;
  const { code, message } = error as { code?: string; message?: string };
  const text = message ?? String(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'EPIPE':
      return 'connection closed while sending';
    case 'EPERM':
    case 'EACCES':
      return `not permitted: ${text}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return `cannot resolve ${(error as { hostname?: string }).hostname ?? 'the host name'} (${code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS: certificate verify failed: ${text}`;
  }
  if (code !== undefined) {
    // The server's alerts about our certificate (TLS 1.3 sends them after our side considered the
    // handshake done, so they arrive as read errors).
    if (/ALERT_CERTIFICATE_REQUIRED/.test(code)) return 'TLS: the relay requires a client certificate';
    if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|ACCESS_DENIED|DECRYPT_ERROR)/.test(code))
      return `TLS: the relay refused the client certificate (${code})`;
    if (/^ERR_SSL_|^ERR_TLS_/.test(code)) return `TLS: ${code}`;
    // OpenSSL's verification results (UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, ...).
    if (/CERT|SIGNATURE|ISSUER|CHAIN/.test(code)) return `TLS: certificate verify failed (${code})`;
    return `${text}`;
  }
  const unexpected = /^Unexpected server response: (\d+)/.exec(text);
  if (unexpected) return `the relay answered HTTP ${unexpected[1]} to the WebSocket upgrade`;
  return text;
}

/** A promise that rejects as soon as `signal` aborts (with its reason). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** net.connect to an address, as a promise; unmarked. */
function connectPlain(address: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: address, port });
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (error: Error): void => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    };
    socket.once('error', onError);
  });
}

function startTls(socket: Socket, url: RelayUrl, spec: RelaySpec, signal: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket,
      // Verified against the URL's host: an IP literal against the certificate's IP SANs, a name
      // against its DNS SANs (and sent as SNI; SNI cannot carry an IP address).
      host: url.host,
      servername: isIP(url.host) === 0 ? url.host : undefined,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
      ...(spec.ca !== undefined ? { ca: spec.ca } : {}),
      ...(spec.clientCert !== undefined ? { cert: spec.clientCert } : {}),
      ...(spec.clientKey !== undefined ? { key: spec.clientKey } : {}),
    });
    const onAbort = (): void => {
      tls.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const onError = (error: Error): void => {
      signal.removeEventListener('abort', onAbort);
      tls.destroy();
      reject(error);
    };
    tls.once('error', onError);
    tls.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      tls.off('error', onError);
      resolve(tls);
    });
  });
}

/** tcp://: the 2-byte framing on the stream; `head` is what a proxy's answer was followed by. */
function tcpCarrier(socket: Socket, head: Buffer, events: CarrierEvents): Carrier {
  const deframer = new StreamDeframer(MAX_DATAGRAM);
  let reason: string | undefined;
  const fail = (why: string): void => {
    reason ??= why;
    socket.destroy();
  };
  const onChunk = (chunk: Buffer): void => {
    if (reason !== undefined) return;
    try {
      // The datagrams of one chunk are one batch: what they make the device write goes out together
      // (segments of one TCP stream as one TUN write).
      batchWrites(() =>
        deframer.push(chunk, (datagram) => {
          if (reason !== undefined) return;
          // Nothing that WireGuard sends is empty; udp-over-tcp forwards empty datagrams, so they are
          // not an error of the relay's, merely nothing for us.
          if (datagram.length === 0) return;
          if (!isWireGuardMessage(datagram)) {
            fail('protocol: the relay sent a datagram that is not WireGuard (is this a relay?)');
            return;
          }
          events.datagram(datagram as Buffer);
        }),
      );
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      fail(`protocol: ${error.message}`);
    }
  };
  socket.on('error', (error) => (reason ??= describeError(error)));
  socket.on('data', onChunk);
  // The relay stopped sending: a half-open connection carries nothing useful.
  socket.on('end', () => fail('the relay closed the connection'));
  socket.on('close', () => events.closed(reason ?? 'the relay closed the connection'));
  if (head.length > 0) onChunk(head);
  socket.resume();
  return {
    send: (packet) => {
      if (socket.writableLength > MAX_BUFFERED || !socket.writable) return false;
      socket.write(encodeFrame(packet));
      return true;
    },
    close: (why) => {
      reason ??= why;
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    },
  };
}

/** ws:// and wss://: one binary message per datagram, on an already-open WebSocket. */
function webSocketCarrier(ws: WebSocket, events: CarrierEvents): Carrier {
  let reason: string | undefined;
  const fail = (why: string, code: number): void => {
    reason ??= why;
    ws.close(code);
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (reason !== undefined) return;
    if (!isBinary) return fail('protocol: the relay sent a text message', 1003);
    if (data.length === 0) return;
    if (!isWireGuardMessage(data))
      return fail('protocol: the relay sent a message that is not WireGuard (is this a relay?)', 1002);
    // ws emits the messages of one socket read one by one: they are one batch all the same.
    batchWritesOfThisTask();
    events.datagram(data);
  });
  ws.on('error', (error) => (reason ??= describeError(error)));
  ws.on('close', (code: number, why: Buffer) => {
    const words = why.length > 0 ? ` ${why.toString('utf8').slice(0, 100)}` : '';
    events.closed(reason ?? `the relay closed the WebSocket (${code}${words})`);
  });
  return {
    send: (packet) => {
      if (ws.readyState !== ws.OPEN || ws.bufferedAmount > MAX_BUFFERED) return false;
      // ws masks a client's message into a copy of its own, so `packet` may be reused at once.
      ws.send(packet, { binary: true });
      return true;
    },
    close: (why) => {
      reason ??= why;
      ws.close(1000);
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    },
  };
}

class RelayTransportImpl implements RelayTransport {
  state: RelayState = 'connecting';
  lastError: string | null = null;
  readonly peer: { host: string; port: number };
  readonly counters: RelayCounters = { sent: 0, received: 0, dropped: 0, connects: 0 };

  private readonly options: RelayTransportOptions;
  private readonly url: RelayUrl;
  private readonly proxy: ProxyUrl | undefined;
  /** For log lines: the relay's URL, and the proxy's without its credentials. */
  private readonly label: string;
  private fwmark: number;
  /** Consecutive failed attempts (and connections that ended early). */
  private failures = 0;
  private carrier: Carrier | undefined;
  private attempt: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private connectedAt = 0;
  /** The current connection is being ended on purpose to make another at once (a new fwmark). */
  private restarting = false;
  private closing: Promise<void> | undefined;
  private carrierGone: (() => void) | undefined;
  /** The first datagram sent since the last one received on this connection (the stall watchdog). */
  private unansweredSince: number | undefined;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(options: RelayTransportOptions) {
    this.options = options;
    this.url = parseRelayUrl(options.spec.url);
    this.proxy = options.spec.proxy === undefined ? undefined : parseProxyUrl(options.spec.proxy);
    if ((options.spec.clientCert === undefined) !== (options.spec.clientKey === undefined))
      throw new TypeError('a client certificate needs its key, and a key its certificate');
    this.fwmark = options.fwmark;
    const first = this.proxy ?? this.url;
    this.peer = { host: options.connectAddress ?? first.host, port: first.port };
    this.label =
      formatRelayUrl(this.url) +
      (options.spec.proxy === undefined ? '' : ` via proxy ${redactProxyUrl(options.spec.proxy)}`);
    // After the caller has the object: its onState may refer to it.
    queueMicrotask(() => this.connect());
  }

  send(packet: Uint8Array): void {
    try {
      if (this.state === 'connected' && !this.closing && this.carrier?.send(packet)) {
        this.counters.sent += 1;
        this.unansweredSince ??= monotonicMs();
        return;
      }
    } catch {
      // An oversized datagram (encodeFrame) or a socket in a state ws refuses: lost, like UDP.
    }
    this.counters.dropped += 1;
  }

  setFwmark(mark: number): void {
    if (mark === this.fwmark) return;
    this.fwmark = mark;
    if (this.closing || (this.carrier === undefined && this.attempt === undefined)) return;
    // A connection made without the mark is routed into a full tunnel once its policy routing is in
    // place: it must be made again now, not at its next failure.
    this.options.log(`relay ${this.label}: fwmark now 0x${mark.toString(16)}: reconnecting`);
    this.restarting = true;
    this.attempt?.abort(new Error('fwmark changed'));
    this.carrier?.close('closed for the new fwmark');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.retryTimer);
      this.attempt?.abort(new Error('closed'));
      if (this.carrier) {
        const gone = new Promise<void>((resolve) => (this.carrierGone = resolve));
        this.carrier.close('closed');
        await gone;
      }
      this.setState('closed');
    })();
    return this.closing;
  }

  private setState(state: RelayState): void {
    if (this.state === state && state !== 'waiting') return;
    this.state = state;
    this.options.onState?.(state);
  }

  private connect(): void {
    if (this.closing) return;
    this.restarting = false;
    this.setState('connecting');
    const attempt = new AbortController();
    this.attempt = attempt;
    const timer = setTimeout(
      () => attempt.abort(Object.assign(new Error('connection timed out'), { code: 'ETIMEDOUT' })),
      CONNECT_TIMEOUT_MS,
    );
    const events: CarrierEvents = {
      datagram: (packet) => {
        this.counters.received += 1;
        this.unansweredSince = undefined;
        this.options.onDatagram(packet);
      },
      closed: (reason) => this.lost(reason),
    };
    this.establish(attempt.signal, events).then(
      (carrier) => {
        clearTimeout(timer);
        this.attempt = undefined;
        if (this.closing || this.restarting) {
          // Ended while its last step completed: let it close, then go on as for a lost connection.
          this.carrier = carrier;
          carrier.close('closed');
          return;
        }
        this.carrier = carrier;
        this.connectedAt = monotonicMs();
        this.counters.connects += 1;
        this.watchForStall(carrier);
        this.options.log(`relay ${this.label}: connected`);
        this.setState('connected');
      },
      (error: unknown) => {
        clearTimeout(timer);
        this.attempt = undefined;
        if (this.closing) return;
        if (this.restarting) return this.connect();
        this.failed(describeError(error));
      },
    );
  }

  private lost(reason: string): void {
    this.carrier = undefined;
    clearInterval(this.stallTimer);
    this.unansweredSince = undefined;
    if (this.closing) {
      this.carrierGone?.();
      return;
    }
    if (this.restarting) return this.connect();
    if (monotonicMs() - this.connectedAt > RECONNECT_RESET_AFTER_MS) this.failures = 0;
    this.failed(reason);
  }

  /** Checks once a second (a few checks per timeout) whether what was sent is going unanswered. */
  private watchForStall(carrier: Carrier): void {
    const timeout = this.options.stallTimeoutMs ?? STALL_TIMEOUT_MS;
    this.unansweredSince = undefined;
    this.stallTimer = setInterval(
      () => {
        if (this.unansweredSince === undefined || monotonicMs() - this.unansweredSince < timeout) return;
        clearInterval(this.stallTimer);
        carrier.close(
          `nothing received for ${timeout / 1000} s while sending (the connection is presumed dead)`,
        );
      },
      Math.min(1000, timeout / 4),
    );
    this.stallTimer.unref();
  }

  private failed(reason: string): void {
    this.failures += 1;
    this.lastError = reason;
    const delay = reconnectDelay(this.failures);
    this.options.log(`relay ${this.label}: ${reason}; next attempt in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setState('waiting');
  }

  /** TCP (marked) to the first hop, CONNECT through the proxy, TLS, WebSocket: a Carrier. */
  private async establish(signal: AbortSignal, events: CarrierEvents): Promise<Carrier> {
    const { spec } = this.options;
    const first = this.proxy ?? this.url;
    let address = this.options.connectAddress ?? first.host;
    if (isIP(address) === 0) {
      address = (await abortable(lookup(address, { verbatim: true }), signal)).address;
      this.peer.host = address;
    }
    const mark = this.fwmark;
    const socket =
      mark === 0
        ? await connectPlain(address, first.port, signal)
        : await connectMarked({ address, port: first.port, mark, timeoutMs: CONNECT_TIMEOUT_MS, signal });
    // Until a carrier owns it, the socket goes with the attempt.
    // Errors before a carrier listens are seen again as the failure of the step that was waiting.
    socket.on('error', () => {});
    const dropSocket = (): void => void socket.destroy();
    signal.addEventListener('abort', dropSocket, { once: true });
    try {
      socket.setNoDelay(true);
      socket.setKeepAlive(true, KEEPALIVE_MS);
      let head: Buffer = Buffer.alloc(0);
      if (this.proxy) {
        head = await abortable(
          httpConnect(socket, {
            host: this.url.host,
            port: this.url.port,
            proxy: this.proxy,
            timeoutMs: CONNECT_TIMEOUT_MS,
          }),
          signal,
        );
      }
      if (this.url.scheme === 'tcp') return tcpCarrier(socket, head, events);
      // A WebSocket (and TLS) client speaks first: a relay or proxy that sent bytes already is not
      // speaking our protocol.
      if (head.length > 0) throw new ProxyError('the proxy sent data before the tunnel was used');
      const stream = this.url.scheme === 'wss' ? await startTls(socket, this.url, spec, signal) : socket;
      try {
        return webSocketCarrier(await abortable(this.openWebSocket(stream), signal), events);
      } catch (error) {
        const { code } = error as { code?: string };
        if (this.url.scheme !== 'wss' || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw error;
        // TLS 1.3: our side finishes the handshake before the server has checked our certificate,
        // and sends the upgrade request at once. A server that refuses the certificate sends an
        // alert and closes; when our request reaches it after that, its kernel answers with a
        // reset, which may overtake the alert we would have reported.
        throw new Error(
          spec.clientCert === undefined
            ? 'TLS: the relay reset the connection after the handshake (does it require a client certificate?)'
            : 'TLS: the relay reset the connection after the handshake (did it refuse the client certificate?)',
          { cause: error },
        );
      }
    } finally {
      signal.removeEventListener('abort', dropSocket);
    }
  }

  private openWebSocket(stream: Socket): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(formatRelayUrl(this.url), {
        // The connection is ours (marked, maybe through a proxy, TLS verified above): ws only speaks
        // HTTP and WebSocket on it.
        createConnection: () => stream,
        perMessageDeflate: false,
        maxPayload: MAX_DATAGRAM,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
        followRedirects: false,
      });
      ws.binaryType = 'nodebuffer';
      // Not once: ws may report more than one error while failing, and an unheard one would end
      // the process.
      const onError = (error: Error): void => {
        ws.terminate();
        stream.destroy();
        reject(error);
      };
      const onClose = (code: number): void =>
        reject(new Error(`the relay closed the connection during the WebSocket upgrade (${code})`));
      ws.on('error', onError);
      ws.once('close', onClose);
      ws.once('open', () => {
        ws.off('error', onError);
        ws.off('close', onClose);
        resolve(ws);
      });
    });
  }
}

/** Starts connecting at once (on the next microtask) and keeps a connection until close(). Throws a
 *  RelayUrlError or ProxyUrlError for a URL it cannot use. */
export function openRelayTransport(options: RelayTransportOptions): RelayTransport {
  return new RelayTransportImpl(options);
}
