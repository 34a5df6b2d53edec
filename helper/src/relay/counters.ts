// What the relay counts, and the two ways it shows it: one log line (SIGUSR1) and Prometheus text
// (--metrics). Plain numbers: a double counts bytes exactly up to 8 PiB.

/** Why a connection was refused before it carried anything. */
export type RejectReason = 'max-clients' | 'per-ip' | 'tls' | 'not-found' | 'timeout' | 'upstream';
/** Why a datagram was dropped instead of forwarded. */
export type DropReason = 'client-buffer-full' | 'upstream-buffer-full' | 'upstream-unreachable';

export class RelayCounters {
  /** Connections admitted and not yet closed (including those still in a TLS or HTTP handshake). */
  connections = 0;
  /** Connections that carried datagrams (a session was opened). */
  sessionsTotal = 0;
  readonly rejected = new Map<RejectReason, number>();
  /** Sessions ended, by the kind of reason (client, idle, protocol, upstream, shutdown, error). */
  readonly closed = new Map<string, number>();
  readonly drops = new Map<DropReason, number>();
  /** Client -> WireGuard server. */
  datagramsUp = 0;
  bytesUp = 0;
  /** WireGuard server -> client. */
  datagramsDown = 0;
  bytesDown = 0;

  reject(reason: RejectReason): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  drop(reason: DropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  close(kind: string): void {
    this.closed.set(kind, (this.closed.get(kind) ?? 0) + 1);
  }
}

const sum = (map: ReadonlyMap<string, number>): number => [...map.values()].reduce((a, b) => a + b, 0);
const listed = (map: ReadonlyMap<string, number>): string =>
  map.size === 0 ? '0' : `${sum(map)} (${[...map].map(([k, v]) => `${k} ${v}`).join(', ')})`;

/** One log line with every counter, for SIGUSR1. */
export function summaryLine(c: RelayCounters): string {
  return (
    `metrics: connections ${c.connections} now, ${c.sessionsTotal} sessions in total, ` +
    `rejected ${listed(c.rejected)}; up ${c.datagramsUp} datagrams ${c.bytesUp} bytes, ` +
    `down ${c.datagramsDown} datagrams ${c.bytesDown} bytes; dropped ${listed(c.drops)}; ` +
    `closed ${listed(c.closed)}`
  );
}

/** Prometheus text exposition format, version 0.0.4. */
export function renderPrometheus(c: RelayCounters): string {
  const out: string[] = [];
  const family = (
    name: string,
    type: 'counter' | 'gauge',
    help: string,
    rows: Array<[labels: string, value: number]>,
  ): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of rows) out.push(`${name}${labels ? `{${labels}}` : ''} ${value}`);
  };
  const byLabel = (label: string, map: ReadonlyMap<string, number>): Array<[string, number]> =>
    [...map].map(([key, value]) => [`${label}="${key}"`, value]);
  family('phantommesh_relay_connections', 'gauge', 'Client connections open now.', [['', c.connections]]);
  family('phantommesh_relay_sessions_total', 'counter', 'Client connections that carried datagrams.', [
    ['', c.sessionsTotal],
  ]);
  family(
    'phantommesh_relay_rejected_connections_total',
    'counter',
    'Client connections refused, by reason.',
    byLabel('reason', c.rejected),
  );
  family(
    'phantommesh_relay_closed_sessions_total',
    'counter',
    'Sessions ended, by reason.',
    byLabel('reason', c.closed),
  );
  family('phantommesh_relay_datagrams_total', 'counter', 'Datagrams forwarded, by direction.', [
    ['direction="up"', c.datagramsUp],
    ['direction="down"', c.datagramsDown],
  ]);
  family('phantommesh_relay_bytes_total', 'counter', 'Datagram payload bytes forwarded, by direction.', [
    ['direction="up"', c.bytesUp],
    ['direction="down"', c.bytesDown],
  ]);
  family(
    'phantommesh_relay_dropped_datagrams_total',
    'counter',
    'Datagrams dropped instead of buffered without bound, by reason.',
    byLabel('reason', c.drops),
  );
  return out.join('\n') + '\n';
}
