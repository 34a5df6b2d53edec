// The tunnels: the list, each one's latest status, public config, rates and retry countdown, the
// selection, and the connect and disconnect the user asked for. The stores hold only what the API
// returns, which never includes a private key.

import { create } from 'zustand';
import type {
  PublicTunnelConfig,
  TunnelStatus,
  TunnelSummary,
} from '../../../../shared/src/control/protocol.ts';
import { failure, invoke, sentence } from '../api.ts';
import { isActive } from '../lib/format.ts';
import { hasNoPeer } from '../lib/peers.ts';
import { addSample, emptyHistory, type RateHistory } from '../lib/rates.ts';
import { retryFor, type RetryInfo } from '../lib/status.ts';
import { strings } from '../strings.ts';
import type { LoadState } from './load-state.ts';
import { receiveBlocking, receiveHelperSettings } from './settings.ts';
import { loadTransport } from './transports.ts';
import { notify } from './ui.ts';

export interface TunnelsState {
  summaries: TunnelSummary[];
  load: LoadState;
  loadError: string | null;
  /** The latest status per tunnel (from events, tunnels.get, connect). */
  statuses: Record<string, TunnelStatus>;
  configs: Record<string, PublicTunnelConfig>;
  selected: string | null;
  rates: Record<string, RateHistory>;
  retries: Record<string, RetryInfo>;
  /** A connect or disconnect the user asked for that has not been answered yet. */
  pending: Record<string, 'connect' | 'disconnect'>;
  /** The last failed action per tunnel, for people. */
  actionErrors: Record<string, string>;
}

export const useTunnels = create<TunnelsState>()(() => ({
  summaries: [],
  load: 'loading',
  loadError: null,
  statuses: {},
  configs: {},
  selected: null,
  rates: {},
  retries: {},
  pending: {},
  actionErrors: {},
}));

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter(([name]) => name !== key));
}

/** Applies statuses at the renderer's clock: retry countdowns and, for stats events, rates. */
export function applyStatuses(statuses: readonly TunnelStatus[], fromStats: boolean, now = Date.now()): void {
  useTunnels.setState((state) => {
    const statusMap = { ...state.statuses };
    let retries = { ...state.retries };
    let rates = { ...state.rates };
    let summaries = state.summaries;
    for (const status of statuses) {
      statusMap[status.name] = status;
      const retry = retryFor(retries[status.name], status, now);
      if (retry) retries[status.name] = retry;
      else retries = without(retries, status.name);
      if (status.state === 'disconnected' || status.state === 'error') rates = without(rates, status.name);
      else if (fromStats)
        rates[status.name] = addSample(
          rates[status.name] ?? emptyHistory,
          now,
          status.rxBytes,
          status.txBytes,
        );
      if (summaries.some((summary) => summary.name === status.name && summary.state !== status.state))
        summaries = summaries.map((summary) =>
          summary.name === status.name ? { ...summary, state: status.state } : summary,
        );
    }
    return { statuses: statusMap, retries, rates, summaries };
  });
}

let listRequest = 0;

/** Loads tunnels.list (and, the first time, the helper's status and settings). */
export async function loadTunnels(initial = false): Promise<void> {
  const request = ++listRequest;
  if (initial || useTunnels.getState().load === 'error')
    useTunnels.setState({ load: 'loading', loadError: null });
  try {
    const [list, status] = await Promise.all([
      invoke('tunnels.list', {}),
      initial ? invoke('status', {}) : Promise.resolve(null),
    ]);
    if (request !== listRequest) return;
    if (status) {
      receiveHelperSettings(status.settings);
      receiveBlocking(status.blocking);
      // After a helper restart what we held is stale: the helper's answer is the whole truth.
      useTunnels.setState({ statuses: {}, rates: {}, retries: {} });
      applyStatuses(status.tunnels, false);
    }
    setSummaries(list);
  } catch (error) {
    if (request !== listRequest) return;
    useTunnels.setState({ load: 'error', loadError: sentence(failure(error).message) });
  }
}

function setSummaries(list: TunnelSummary[]): void {
  const sorted = [...list].sort((a, b) => a.name.localeCompare(b.name));
  const names = new Set(sorted.map((summary) => summary.name));
  const { selected, statuses, configs } = useTunnels.getState();
  const keep = <T>(record: Record<string, T>) =>
    Object.fromEntries(Object.entries(record).filter(([name]) => names.has(name)));
  // The list's state is as fresh as the statuses we hold; take the list's for tunnels we know nothing of.
  const merged = sorted.map((summary) => {
    const status = statuses[summary.name];
    return status ? { ...summary, state: status.state } : summary;
  });
  const nextSelected =
    selected && names.has(selected)
      ? selected
      : (merged.find((summary) => summary.state === 'connected')?.name ??
        merged.find((summary) => isActive(summary.state))?.name ??
        merged[0]?.name ??
        null);
  useTunnels.setState({
    summaries: merged,
    load: 'ready',
    loadError: null,
    statuses: keep(statuses),
    configs: keep(configs),
    selected: nextSelected,
  });
  if (nextSelected) void loadDetail(nextSelected);
  // A tunnel without endpoints may have no peer at all; its row says so once its config is known.
  for (const summary of merged)
    if (summary.endpoints.length === 0 && summary.name !== nextSelected) void loadDetail(summary.name);
}

/** Fetches a tunnel's public config and status (tunnels.get), and its transport. */
export async function loadDetail(name: string): Promise<void> {
  void loadTransport(name);
  try {
    const { config, status } = await invoke('tunnels.get', { name });
    useTunnels.setState((state) => ({ configs: { ...state.configs, [name]: config } }));
    // A stats event may have overtaken this answer; only take its status when we have none.
    if (!useTunnels.getState().statuses[name]) applyStatuses([status], false);
  } catch {
    // The list still shows the tunnel; its detail fills in on the next tunnels-changed.
  }
}

export function select(name: string): void {
  if (useTunnels.getState().selected === name) return;
  useTunnels.setState({ selected: name });
  void loadDetail(name);
}

function setPending(
  name: string,
  action: 'connect' | 'disconnect' | null,
  error: string | null = null,
): void {
  useTunnels.setState((state) => ({
    pending: action ? { ...state.pending, [name]: action } : without(state.pending, name),
    actionErrors: error ? { ...state.actionErrors, [name]: error } : without(state.actionErrors, name),
  }));
}

export async function connect(name: string): Promise<void> {
  // Without a peer the helper would hold the tunnel "connecting" for ever: say what is missing instead.
  if (hasNoPeer(useTunnels.getState().configs[name])) {
    setPending(name, null, strings.detail.connectNeedsPeer);
    return;
  }
  setPending(name, 'connect');
  try {
    const status = await invoke('tunnels.connect', { name });
    applyStatuses([status], false);
    setPending(name, null);
  } catch (error) {
    setPending(name, null, strings.detail.connectFailed(sentence(failure(error).message)));
  }
}

export async function disconnect(name: string): Promise<void> {
  setPending(name, 'disconnect');
  try {
    await invoke('tunnels.disconnect', { name });
    setPending(name, null);
  } catch (error) {
    setPending(name, null, strings.detail.disconnectFailed(sentence(failure(error).message)));
  }
}

/**
 * Exports a tunnel through a save dialog: without secrets, or in full (`includePrivateKey`, root only).
 * A failure is thrown, for the export dialog to show.
 */
export async function exportTunnel(name: string, includePrivateKey: boolean): Promise<void> {
  const result = await invoke('app.exportTunnel', { name, includePrivateKey });
  if (result) notify(strings.detail.exported(result.path));
}

/** After an import or create: show the new tunnel. */
export function showCreated(summary: TunnelSummary): void {
  useTunnels.setState((state) => ({
    selected: summary.name,
    summaries: state.summaries.some((s) => s.name === summary.name)
      ? state.summaries
      : [...state.summaries, summary].sort((a, b) => a.name.localeCompare(b.name)),
    load: 'ready',
  }));
  void loadDetail(summary.name);
}

export function forgetTunnel(name: string): void {
  useTunnels.setState((state) => {
    const summaries = state.summaries.filter((summary) => summary.name !== name);
    return {
      summaries,
      selected: state.selected === name ? (summaries[0]?.name ?? null) : state.selected,
    };
  });
  const { selected } = useTunnels.getState();
  if (selected) void loadDetail(selected);
}
