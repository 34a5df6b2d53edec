// A tunnel without a peer: how it is shown (not "Connecting…" forever) and the [Peer] template the
// editor offers. Pure (no DOM), unit-tested in test/unit/renderer-peers.test.ts.

import type { PublicTunnelConfig, TunnelState } from '../../../../shared/src/control/protocol.ts';

/** What a tunnel row and the detail show: the helper's state, or `no-peer` where that says more. */
export type ShownState = TunnelState | 'no-peer';

/** True when the config is known and has no [Peer]: such a tunnel has nothing to connect to. */
export function hasNoPeer(config: PublicTunnelConfig | undefined): boolean {
  return config !== undefined && config.peers.length === 0;
}

/**
 * A tunnel without a peer is "No peer" while it is down, and also while the helper holds it up
 * (connecting, reconnecting): it would wait there forever. Disconnecting and errors show as they are.
 */
export function withPeerState(state: TunnelState, noPeer: boolean): ShownState {
  return noPeer && (state === 'disconnected' || state === 'connecting' || state === 'reconnecting')
    ? 'no-peer'
    : state;
}

/** The editor's template: placeholders in <…> that the checker marks until they are filled in. */
export const PEER_TEMPLATE = [
  '[Peer]',
  '# The server: fill in what its operator gave you, then save.',
  "PublicKey = <the server's public key>",
  '# 0.0.0.0/0, ::/0 sends all traffic through the tunnel.',
  'AllowedIPs = 0.0.0.0/0, ::/0',
  'Endpoint = <server address>:51820',
];
export const ADDRESS_TEMPLATE = "Address = <this computer's address in the tunnel, e.g. 10.0.0.2/32>";

const SECTION = /^\s*\[(\w+)\]\s*(?:#.*)?$/;

/** Whether a config text has a [Peer] section. */
export function hasPeerSection(text: string): boolean {
  return text.split('\n').some((line) => SECTION.exec(line)?.[1]?.toLowerCase() === 'peer');
}

/**
 * The text with a [Peer] template appended (and an Address placeholder in [Interface] when it has
 * none), and the 1-based line of the template's PublicKey, where the caret goes.
 */
export function addPeerTemplate(text: string): { text: string; line: number } {
  const lines = text.replace(/\n+$/, '').split('\n');
  const interfaceAt = lines.findIndex((line) => SECTION.exec(line)?.[1]?.toLowerCase() === 'interface');
  if (interfaceAt >= 0) {
    let end = interfaceAt + 1;
    while (end < lines.length && !SECTION.test(lines[end]!)) end++;
    const hasAddress = lines.slice(interfaceAt + 1, end).some((line) => /^\s*Address\s*=/i.test(line));
    if (!hasAddress) {
      // After the section's last setting, before any blank lines that end it.
      let at = end;
      while (at > interfaceAt + 1 && lines[at - 1]!.trim() === '') at--;
      lines.splice(at, 0, ADDRESS_TEMPLATE);
    }
  }
  const before = lines.length === 1 && lines[0] === '' ? [] : [...lines, ''];
  const result = [...before, ...PEER_TEMPLATE, ''];
  return {
    text: result.join('\n'),
    line: before.length + PEER_TEMPLATE.indexOf("PublicKey = <the server's public key>") + 1,
  };
}
