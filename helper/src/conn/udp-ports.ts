// What the POSIX UDP binds (bind_linux.ts, bind_darwin.ts) do alike, free of any OS: binding one port
// for both families (wireguard-go's retry when port 0 gives IPv4 a port IPv6 already uses), parsing a
// destination once per endpoint change, counting send failures with a log line at most every 10 s,
// and checking a mark before it is set. The OS files pass in their own socket calls and errno values.

import { PhantomError } from '../../../shared/src/errors.ts';
import { parseIp, type Endpoint, type Family } from '../../../shared/src/ip.ts';
import { monotonicMs } from '../clock.ts';

// With port 0, how often to retry when the port the kernel gave IPv4 is taken for IPv6 (wireguard-go: 100).
const RANDOM_PORT_ATTEMPTS = 100;
const SEND_ERROR_LOG_INTERVAL_MS = 10_000;

/** The OS's socket calls and errno values bindPortPair needs. */
export interface PortPairSockets {
  /** A non-blocking UDP socket bound to the wildcard address and `port`; the fd, or -errno. */
  bindSocket(family: Family, port: number): number;
  boundPort(fd: number): number;
  close(fd: number): void;
  strerror(errno: number): string;
  EADDRINUSE: number;
  EAFNOSUPPORT: number;
}

function bindError(os: PortPairSockets, family: Family, port: number, errno: number): PhantomError {
  if (errno === os.EADDRINUSE) return new PhantomError('PORT_IN_USE', `UDP port ${port} is already in use`);
  return new PhantomError('BIND_FAILED', `binding UDP port ${port} over IPv${family}: ${os.strerror(errno)}`);
}

/** Binds both families on one port; IPv6 is left out only where the kernel has no IPv6 at all. */
export function bindPortPair(os: PortPairSockets, port: number): { v4: number; v6: number | undefined } {
  for (let attempt = 1; ; attempt++) {
    const v4 = os.bindSocket(4, port);
    if (v4 < 0) throw bindError(os, 4, port, -v4);
    const actual = os.boundPort(v4);
    const v6 = os.bindSocket(6, actual);
    if (v6 >= 0) return { v4, v6 };
    if (-v6 === os.EAFNOSUPPORT) return { v4, v6: undefined };
    os.close(v4);
    if (-v6 === os.EADDRINUSE && port === 0 && attempt < RANDOM_PORT_ATTEMPTS) continue;
    throw bindError(os, 6, actual, -v6);
  }
}

/** A destination as the kernel takes it. */
export interface Destination {
  bytes: Uint8Array;
  scopeId: number;
}

/**
 * The last destination, parsed: a peer's endpoint is a new object only when it roams, so the text is
 * parsed once per change instead of once per packet.
 */
export class Destinations {
  #ifNameToIndex: (name: string) => number;
  #lastAddress = '';
  #lastDestination: Destination | null = null;

  constructor(ifNameToIndex: (name: string) => number) {
    this.#ifNameToIndex = ifNameToIndex;
  }

  /** Where `to` goes, or why a datagram cannot go there. */
  of(to: Endpoint): Destination | string {
    if (to.address !== this.#lastAddress) {
      this.#lastAddress = to.address;
      this.#lastDestination = this.#parse(to);
    }
    const target = this.#lastDestination;
    if (!target) return `${to.address} is not an IP address of this family`;
    if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65535)
      return `port ${to.port} is not a port to send to`;
    return target;
  }

  /** Null for text that is no IP literal of the family (or names an unknown zone). */
  #parse(to: Endpoint): Destination | null {
    const [literal, zone] = to.address.split('%', 2) as [string, string | undefined];
    const bytes = parseIp(literal);
    if (!bytes || bytes.length !== (to.family === 4 ? 4 : 16)) return null;
    if (zone === undefined) return { bytes, scopeId: 0 };
    const scopeId = /^\d+$/.test(zone) ? Number(zone) : this.#ifNameToIndex(zone);
    return scopeId > 0 ? { bytes, scopeId } : null;
  }
}

/** Send failures: every one counted, a log line at most every 10 s with how many came since the last. */
export class SendFailures {
  #sendErrors = 0;
  #sendErrorsLogged = 0;
  #lastSendErrorLog = -Infinity;

  record(reason: string, count = 1): void {
    this.#sendErrors += count;
    const now = monotonicMs();
    if (now - this.#lastSendErrorLog < SEND_ERROR_LOG_INTERVAL_MS) return;
    console.error(
      `udp send failed: ${reason} (${this.#sendErrors - this.#sendErrorsLogged} since last report)`,
    );
    this.#lastSendErrorLog = now;
    this.#sendErrorsLogged = this.#sendErrors;
  }
}

/** Throws unless `mark` is a 32-bit unsigned number and the bind is still open. */
export function checkMark(mark: number, port: number, closed: boolean): void {
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff)
    throw new PhantomError('FWMARK_INVALID', `fwmark ${mark} is not a 32-bit unsigned number`);
  // A closed fd's number may already belong to some other file.
  if (closed) throw new PhantomError('BIND_CLOSED', `UDP port ${port} is closed`);
}
