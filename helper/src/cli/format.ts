// Human-readable status for the command line, in the spirit of `wg show`.

import type { TunnelStatus } from '../../../shared/src/control/protocol.ts';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(2)} ${units[unit]}`;
}

export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s ago`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min ago`;
}

export function formatStatus(status: TunnelStatus, now = Date.now()): string {
  let state: string = status.state;
  if (status.state === 'reconnecting' && status.attempt)
    state += ` (attempt ${status.attempt}, next in ${status.nextRetrySeconds ?? 0} s)`;
  const lines = [`${status.name}: ${state}`];
  if (status.reason) lines.push(`  ${status.reason}`);
  if (status.interfaceAddresses.length) lines.push(`  addresses: ${status.interfaceAddresses.join(', ')}`);
  if (status.endpoint) lines.push(`  endpoint: ${status.endpoint}`);
  if (status.transport?.kind === 'relay')
    lines.push(
      `  transport: relay ${status.transport.url ?? ''}${status.transport.reason ? ` (${status.transport.reason})` : ''}`,
    );
  else if (status.transport?.reason) lines.push(`  transport: UDP (${status.transport.reason})`);
  if (status.latestHandshake) lines.push(`  latest handshake: ${formatAge(now - status.latestHandshake)}`);
  if (status.state !== 'disconnected')
    lines.push(`  transfer: ${formatBytes(status.rxBytes)} received, ${formatBytes(status.txBytes)} sent`);
  return lines.join('\n');
}

/**
 * Why a tunnel that is up has no session yet, from what its status says: which peer does not answer
 * where. The helper's own `reason` only comes after its 20 s connect timeout.
 */
export function whyNotConnected(status: TunnelStatus, now = Date.now()): string {
  if (status.peers.length === 0) return 'it has no peers (its configuration has no [Peer] section)';
  // The first peer with an endpoint decides the tunnel's state, as in the helper.
  const peer = status.peers.find((each) => each.endpoint);
  if (!peer) return 'no peer has an Endpoint, so it can only wait for a peer to contact it';
  const last = peer.latestHandshake
    ? ` (the last handshake was ${formatAge(now - peer.latestHandshake)})`
    : '';
  return `no handshake answer from peer ${peer.publicKey} at ${peer.endpoint}${last}`;
}
