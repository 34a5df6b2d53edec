// A tunnel without a peer (how it is shown, the editor's [Peer] template) and what the export dialog
// says when the helper refuses a full backup.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyInterface } from '../../shared/src/config/parse.ts';
import { toPublicConfig, type PublicTunnelConfig } from '../../shared/src/control/protocol.ts';
import { configProblems } from '../../app/renderer/src/lib/config.ts';
import { exportProblem } from '../../app/renderer/src/lib/export.ts';
import { stateText } from '../../app/renderer/src/lib/format.ts';
import {
  addPeerTemplate,
  hasNoPeer,
  hasPeerSection,
  PEER_TEMPLATE,
  withPeerState,
} from '../../app/renderer/src/lib/peers.ts';

const config = (peers: number): PublicTunnelConfig =>
  toPublicConfig(
    {
      interface: emptyInterface(),
      peers: Array.from({ length: peers }, (_, i) => ({ publicKey: `p${i}`, allowedIps: [] })),
    },
    'k',
  );

test('a tunnel without a peer reads "No peer", also while the helper holds it connecting', () => {
  assert.equal(hasNoPeer(undefined), false, 'not known yet: no claim');
  assert.equal(hasNoPeer(config(0)), true);
  assert.equal(hasNoPeer(config(1)), false);
  for (const state of ['disconnected', 'connecting', 'reconnecting'] as const) {
    assert.equal(withPeerState(state, true), 'no-peer');
    assert.equal(withPeerState(state, false), state);
  }
  for (const state of ['connected', 'disconnecting', 'error'] as const)
    assert.equal(withPeerState(state, true), state);
  assert.equal(stateText('no-peer'), 'No peer');
});

test('the [Peer] template: PublicKey, AllowedIPs and Endpoint, placeholders marked until filled in', () => {
  assert.equal(hasPeerSection('[Interface]\nPrivateKey = x\n'), false);
  assert.equal(hasPeerSection('[Interface]\n\n[peer] # the server\nPublicKey = x\n'), true);

  // What tunnels.text gives for a created tunnel: [Interface] alone (the key stays with the helper).
  const { text, line } = addPeerTemplate('[Interface]\n');
  assert.equal(
    text,
    [
      '[Interface]',
      "Address = <this computer's address in the tunnel, e.g. 10.0.0.2/32>",
      '',
      ...PEER_TEMPLATE,
      '',
    ].join('\n'),
  );
  assert.equal(text.split('\n')[line - 1], "PublicKey = <the server's public key>");
  assert.ok(hasPeerSection(text));
  assert.match(text, /^AllowedIPs = 0\.0\.0\.0\/0, ::\/0$/m);
  assert.match(text, /^Endpoint = <server address>:51820$/m);
  // The editor's checker marks exactly the placeholder lines.
  const marked = configProblems(text, 'edit').map((problem) => text.split('\n')[problem.line - 1]);
  assert.deepEqual(marked, [
    "Address = <this computer's address in the tunnel, e.g. 10.0.0.2/32>",
    "PublicKey = <the server's public key>",
    'Endpoint = <server address>:51820',
  ]);
  // Filled in, it is a valid configuration.
  const filled = text
    .replace(/<this computer's address[^>]*>/, '192.0.2.7/32')
    .replace("<the server's public key>", `${'A'.repeat(43)}=`)
    .replace('<server address>', '198.51.100.1');
  assert.deepEqual(configProblems(filled, 'edit'), []);
});

test('an Address is suggested only when [Interface] has none; other settings stay where they are', () => {
  const { text } = addPeerTemplate('[Interface]\nAddress = 192.0.2.7/32\nDNS = 192.0.2.53\n\n\n');
  assert.equal(
    text,
    ['[Interface]', 'Address = 192.0.2.7/32', 'DNS = 192.0.2.53', '', ...PEER_TEMPLATE, ''].join('\n'),
  );
  const withMtu = addPeerTemplate('[Interface]\nMTU = 1380\n').text;
  assert.match(withMtu, /^\[Interface\]\nMTU = 1380\nAddress = <[^>]+>\n\n\[Peer\]\n/);
});

test('a full backup refused for not being root says so and how to make one; other failures as they are', () => {
  const refusal = {
    code: 'NOT_AUTHORIZED',
    message: 'only root may export a private key (run the command with sudo)',
  };
  assert.equal(
    exportProblem(refusal, 'office', true),
    'The helper refused: only root may export a private key (run the command with sudo). The app does not ' +
      'run as root; for a full backup run in a terminal: sudo phantommesh export office --private-key > office.conf',
  );
  assert.equal(
    exportProblem({ code: 'TUNNEL_NOT_FOUND', message: 'no tunnel named office' }, 'office', true),
    'Could not export: no tunnel named office',
  );
  assert.equal(exportProblem(refusal, 'office', false), `Could not export: ${refusal.message}`);
});
