// What the tray shows, as a pure function of the helper link and the tunnels; tray.ts turns it into
// Electron's Tray and Menu. Kept apart so that every state can be tested without a desktop.

import type { TunnelState, TunnelStatus, TunnelSummary } from '../../shared/src/control/protocol.ts';
import type { HelperConnection } from '../../shared/src/ipc/schema.ts';

export type TrayIcon = 'disconnected' | 'connecting' | 'connected' | 'error';

export type TrayItem =
  /** A tunnel's toggle: checked while it is up (or on its way); clicking does `action`. */
  | {
      kind: 'tunnel';
      name: string;
      label: string;
      checked: boolean;
      enabled: boolean;
      action: 'connect' | 'disconnect';
    }
  /** The transfer of a connected tunnel: "↓ 1.2 MiB ↑ 300 KiB". */
  | { kind: 'transfer'; name: string; label: string }
  /** A line of text that does nothing. */
  | { kind: 'info'; label: string }
  | { kind: 'separator' }
  | { kind: 'open'; label: string }
  | { kind: 'restart-to-update'; label: string }
  | { kind: 'quit'; label: string };

export interface TrayModel {
  icon: TrayIcon;
  tooltip: string;
  items: TrayItem[];
}

export interface TrayInput {
  helper: HelperConnection;
  tunnels: readonly TunnelSummary[];
  /** The helper's latest status per tunnel, where it reported one. */
  statuses: readonly TunnelStatus[];
  /** The version of a downloaded update waiting for a restart, if any. */
  updateReady?: string | null;
}

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** 0 B, 512 B, 1.2 KiB, 300 KiB, 1.2 MiB: one decimal below 10, none above. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

export function formatTransfer(status: Pick<TunnelStatus, 'rxBytes' | 'txBytes'>): string {
  return `↓ ${formatBytes(status.rxBytes)} ↑ ${formatBytes(status.txBytes)}`;
}

const HELPER_PROBLEM: Record<Exclude<HelperConnection['state'], 'connected'>, string> = {
  connecting: 'connecting to the helper…',
  unavailable: 'helper unavailable',
  'out-of-date': 'helper out of date',
  unauthorized: 'not allowed to use the helper',
};

/** Up, or on its way up: the toggle is on. */
const UP: ReadonlySet<TunnelState> = new Set(['connecting', 'connected', 'reconnecting']);
const BUSY: ReadonlySet<TunnelState> = new Set(['connecting', 'reconnecting', 'disconnecting']);

function tunnelLabel(name: string, status: TunnelStatus | undefined, state: TunnelState): string {
  switch (state) {
    case 'connected':
      return `${name} (connected)`;
    case 'connecting':
      return `${name} (connecting…)`;
    case 'reconnecting':
      return `${name} (reconnecting, attempt ${status?.attempt ?? 1})`;
    case 'disconnecting':
      return `${name} (disconnecting…)`;
    case 'error':
      return `${name} (failed)`;
    case 'disconnected':
      return name;
  }
}

function iconFor(states: readonly TunnelState[]): TrayIcon {
  if (states.includes('error')) return 'error';
  if (states.some((state) => BUSY.has(state))) return 'connecting';
  if (states.includes('connected')) return 'connected';
  return 'disconnected';
}

function tooltipFor(icon: TrayIcon, tunnels: ReadonlyArray<{ name: string; state: TunnelState }>): string {
  const named = (...states: TunnelState[]) =>
    tunnels
      .filter((tunnel) => states.includes(tunnel.state))
      .map((tunnel) => tunnel.name)
      .join(', ');
  switch (icon) {
    case 'error':
      return `PhantomMesh: ${named('error')} failed`;
    case 'connecting': {
      const reconnecting = named('reconnecting');
      if (reconnecting) return `PhantomMesh: reconnecting to ${reconnecting}`;
      const connecting = named('connecting');
      return connecting ? `PhantomMesh: connecting to ${connecting}` : `PhantomMesh: disconnecting…`;
    }
    case 'connected':
      return `PhantomMesh: connected to ${named('connected')}`;
    case 'disconnected':
      return 'PhantomMesh: disconnected';
  }
}

const TAIL: TrayItem[] = [
  { kind: 'separator' },
  { kind: 'open', label: 'Open PhantomMesh' },
  { kind: 'quit', label: 'Quit' },
];

export function trayModel(input: TrayInput): TrayModel {
  const update: TrayItem[] = input.updateReady
    ? [{ kind: 'restart-to-update', label: `Restart to update (${input.updateReady})` }]
    : [];
  if (input.helper.state !== 'connected') {
    const problem = HELPER_PROBLEM[input.helper.state];
    return {
      icon: input.helper.state === 'connecting' ? 'connecting' : 'error',
      tooltip: `PhantomMesh: ${problem}`,
      items: [{ kind: 'info', label: problem[0]!.toUpperCase() + problem.slice(1) }, ...update, ...TAIL],
    };
  }

  const byName = new Map(input.statuses.map((status) => [status.name, status]));
  const tunnels = input.tunnels.map((summary) => {
    const status = byName.get(summary.name);
    return { name: summary.name, status, state: status?.state ?? summary.state };
  });
  const icon = iconFor(tunnels.map((tunnel) => tunnel.state));
  const items: TrayItem[] = [];
  for (const { name, status, state } of tunnels) {
    const up = UP.has(state);
    items.push({
      kind: 'tunnel',
      name,
      label: tunnelLabel(name, status, state),
      checked: up,
      enabled: state !== 'disconnecting',
      action: up ? 'disconnect' : 'connect',
    });
    if (state === 'connected' && status)
      items.push({ kind: 'transfer', name, label: formatTransfer(status) });
  }
  if (tunnels.length === 0) items.push({ kind: 'info', label: 'No tunnels yet' });
  return { icon, tooltip: tooltipFor(icon, tunnels), items: [...items, ...update, ...TAIL] };
}
