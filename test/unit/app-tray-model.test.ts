// The tray model: icon, tooltip and menu for each state of the helper link and the tunnels.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TunnelState, TunnelStatus, TunnelSummary } from '../../shared/src/control/protocol.ts';
import type { HelperConnection } from '../../shared/src/ipc/schema.ts';
import { formatBytes, formatTransfer, trayModel, type TrayItem } from '../../app/main/tray-model.ts';

const connected: HelperConnection = { state: 'connected', canFix: false };

function summary(name: string, state: TunnelState = 'disconnected'): TunnelSummary {
  return { name, publicKey: 'k', addresses: ['10.0.0.2/32'], endpoints: ['192.0.2.1:51820'], state };
}

function status(name: string, state: TunnelState, extra: Partial<TunnelStatus> = {}): TunnelStatus {
  return { name, state, interfaceAddresses: [], rxBytes: 0, txBytes: 0, peers: [], ...extra };
}

const tail: TrayItem[] = [
  { kind: 'separator' },
  { kind: 'open', label: 'Open PhantomMesh' },
  { kind: 'quit', label: 'Quit' },
];

test('bytes are shown in binary units, one decimal below 10', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(300 * 1024), '300 KiB');
  assert.equal(formatBytes(1.2 * 1024 * 1024), '1.2 MiB');
  assert.equal(formatBytes(5 * 1024 ** 4), '5.0 TiB');
  assert.equal(formatBytes(2048 * 1024 ** 4), '2048 TiB');
  assert.equal(formatTransfer({ rxBytes: 1.2 * 1024 * 1024, txBytes: 300 * 1024 }), '↓ 1.2 MiB ↑ 300 KiB');
});

test('no tunnels: disconnected icon and a hint', () => {
  assert.deepEqual(trayModel({ helper: connected, tunnels: [], statuses: [] }), {
    icon: 'disconnected',
    tooltip: 'PhantomMesh: disconnected',
    items: [{ kind: 'info', label: 'No tunnels yet' }, ...tail],
  });
});

test('a connected tunnel: toggle on, its transfer, connected icon', () => {
  const model = trayModel({
    helper: connected,
    tunnels: [summary('office', 'connected'), summary('home')],
    statuses: [status('office', 'connected', { rxBytes: 1.2 * 1024 * 1024, txBytes: 300 * 1024 })],
  });
  assert.equal(model.icon, 'connected');
  assert.equal(model.tooltip, 'PhantomMesh: connected to office');
  assert.deepEqual(model.items, [
    {
      kind: 'tunnel',
      name: 'office',
      label: 'office (connected)',
      checked: true,
      enabled: true,
      action: 'disconnect',
    },
    { kind: 'transfer', name: 'office', label: '↓ 1.2 MiB ↑ 300 KiB' },
    { kind: 'tunnel', name: 'home', label: 'home', checked: false, enabled: true, action: 'connect' },
    ...tail,
  ]);
});

test("a status newer than the list wins: the list's state is what it was when it was fetched", () => {
  const model = trayModel({
    helper: connected,
    tunnels: [summary('office', 'disconnected')],
    statuses: [status('office', 'reconnecting', { attempt: 3 })],
  });
  assert.equal(model.icon, 'connecting');
  assert.equal(model.tooltip, 'PhantomMesh: reconnecting to office');
  assert.deepEqual(model.items[0], {
    kind: 'tunnel',
    name: 'office',
    label: 'office (reconnecting, attempt 3)',
    checked: true,
    enabled: true,
    action: 'disconnect',
  });
});

test('connecting, disconnecting and failed tunnels', () => {
  const connecting = trayModel({ helper: connected, tunnels: [summary('a', 'connecting')], statuses: [] });
  assert.equal(connecting.icon, 'connecting');
  assert.equal(connecting.tooltip, 'PhantomMesh: connecting to a');
  assert.deepEqual(connecting.items[0], {
    kind: 'tunnel',
    name: 'a',
    label: 'a (connecting…)',
    checked: true,
    enabled: true,
    action: 'disconnect',
  });

  const leaving = trayModel({ helper: connected, tunnels: [summary('a', 'disconnecting')], statuses: [] });
  assert.equal(leaving.icon, 'connecting');
  assert.equal(leaving.tooltip, 'PhantomMesh: disconnecting…');
  assert.equal((leaving.items[0] as { enabled: boolean }).enabled, false);

  // An error outranks a tunnel that is fine: the icon is where the eye goes first.
  const failed = trayModel({
    helper: connected,
    tunnels: [summary('a', 'connected'), summary('b')],
    statuses: [status('a', 'connected'), status('b', 'error', { reason: 'The tunnel failed' })],
  });
  assert.equal(failed.icon, 'error');
  assert.equal(failed.tooltip, 'PhantomMesh: b failed');
  assert.deepEqual(failed.items[2], {
    kind: 'tunnel',
    name: 'b',
    label: 'b (failed)',
    checked: false,
    enabled: true,
    action: 'connect',
  });
});

test('without the helper: no tunnels, the problem instead', () => {
  const tunnels = [summary('office', 'connected')];
  const cases: Array<[HelperConnection, string, string]> = [
    [{ state: 'connecting', canFix: false }, 'connecting', 'Connecting to the helper…'],
    [{ state: 'unavailable', message: 'x', canFix: true }, 'error', 'Helper unavailable'],
    [{ state: 'out-of-date', canFix: false }, 'error', 'Helper out of date'],
    [{ state: 'unauthorized', canFix: false }, 'error', 'Not allowed to use the helper'],
  ];
  for (const [helper, icon, label] of cases) {
    const model = trayModel({ helper, tunnels, statuses: [] });
    assert.equal(model.icon, icon);
    assert.equal(model.tooltip, `PhantomMesh: ${label[0]!.toLowerCase()}${label.slice(1)}`);
    assert.deepEqual(model.items, [{ kind: 'info', label }, ...tail]);
  }
});

test('a downloaded update offers a restart above Open and Quit', () => {
  const model = trayModel({ helper: connected, tunnels: [summary('a')], statuses: [], updateReady: '0.2.0' });
  assert.deepEqual(model.items.slice(-4), [
    { kind: 'restart-to-update', label: 'Restart to update (0.2.0)' },
    ...tail,
  ]);
});
