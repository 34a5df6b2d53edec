// Feeds the stores: once at start-up, `window.phantommesh.onEvent` and the first invokes; after that
// every change arrives as an AppEvent or as the result of an action below. Components call these
// actions and read the stores; they never call the API themselves.

import type {
  HelperEvent,
  LogLine,
  Settings as HelperSettings,
  TunnelStatus,
  TunnelSummary,
} from '../../../../shared/src/control/protocol.ts';
import type { AppEvent, AppSettings, HelperConnection } from '../../../../shared/src/ipc/schema.ts';
import type { HostProblem, HostProblemEvent } from '../../../web/wire.ts';
import { failure, invoke, onEvent, sentence } from '../api.ts';
import { isActive } from '../lib/format.ts';
import { hasNoPeer } from '../lib/peers.ts';
import { addSample, emptyHistory } from '../lib/rates.ts';
import { retryFor } from '../lib/status.ts';
import { strings } from '../strings.ts';
import {
  MAX_LOG_LINES,
  useAppSettings,
  useHelper,
  useHelperSettings,
  useLogs,
  useTunnels,
  useUi,
  type Dialog,
  type Page,
} from './stores.ts';

const LOG_TAIL = 500;

/** The codes the browser host's shim rejects calls with when the page has no link to the host. */
const HOST_PROBLEMS: Partial<Record<string, HostProblem>> = {
  NO_TOKEN: 'no-token',
  TOKEN_REFUSED: 'token-refused',
  HOST_UNREACHABLE: 'host-unreachable',
  HOST_CLOSED: 'host-closed',
};

let started = false;

/** Subscribes to the app's events and asks for the first state. Called once, before React renders. */
export function startFeed(): void {
  if (started) return;
  started = true;
  onEvent(handleEvent);
  invoke('app.state', {}).then(
    (state) => {
      useAppSettings.setState({ settings: state.settings });
      useHelper.setState({ version: state.version });
      // A helper-connection event that came first is newer than this answer.
      if (!useHelper.getState().known) setConnection(state.helper);
    },
    (error: unknown) => {
      // In the browser host a refused page is told why (the shim's codes, or a host-problem event).
      const { code, message } = failure(error);
      const problem = code !== undefined ? HOST_PROBLEMS[code] : undefined;
      if (problem) useHelper.setState({ hostProblem: problem, known: true });
      else if (useHelper.getState().hostProblem === null)
        useHelper.setState({ bridgeError: message, known: true });
    },
  );
}

/** The bridge itself is missing (no preload, no host script). */
export function bridgeMissing(message: string): void {
  useHelper.setState({ bridgeError: message, known: true });
}

function handleEvent(event: AppEvent | HostProblemEvent): void {
  switch (event.type) {
    case 'host-problem':
      useHelper.setState({ hostProblem: event.problem, known: true });
      break;
    case 'helper-connection':
      setConnection(event.connection);
      break;
    case 'helper':
      handleHelperEvent(event.event);
      break;
    case 'app-settings':
      useAppSettings.setState({ settings: event.settings, error: null });
      break;
    case 'select-tunnel':
      navigate('tunnels');
      select(event.name);
      break;
  }
}

function handleHelperEvent(event: HelperEvent): void {
  switch (event.type) {
    case 'tunnel-state':
      applyStatuses([event.status], false);
      break;
    case 'stats':
      applyStatuses(event.tunnels, true);
      break;
    case 'log':
      appendLog([event.line]);
      break;
    case 'settings':
      useHelperSettings.setState({ settings: event.settings, error: null });
      break;
    case 'tunnels-changed':
      void loadTunnels();
      break;
  }
}

function setConnection(connection: HelperConnection): void {
  const wasConnected = useHelper.getState().connection.state === 'connected';
  useHelper.setState({
    connection,
    known: true,
    ...(connection.state === 'connected' ? { fixRequested: false, fixError: null } : {}),
  });
  if (connection.state === 'connected' && !wasConnected) {
    void loadTunnels(true);
    void loadLogs();
  }
}

// ---- tunnels ----

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
      useHelperSettings.setState({ settings: status.settings, error: null });
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

/** Fetches a tunnel's public config and status (tunnels.get). */
export async function loadDetail(name: string): Promise<void> {
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

// ---- helper ----

export async function fixHelper(): Promise<void> {
  useHelper.setState({ fixing: true, fixError: null });
  try {
    await invoke('app.fixHelper', {});
    useHelper.setState({ fixing: false, fixRequested: true });
  } catch (error) {
    useHelper.setState({ fixing: false, fixError: sentence(failure(error).message) });
  }
}

// ---- settings ----

export async function setAppSetting(changes: Partial<AppSettings>): Promise<void> {
  const previous = useAppSettings.getState().settings;
  if (previous) useAppSettings.setState({ settings: { ...previous, ...changes }, error: null });
  try {
    const settings = await invoke('app.settings.set', changes);
    useAppSettings.setState({ settings, error: null });
  } catch (error) {
    useAppSettings.setState({
      settings: previous,
      error: strings.settings.saveFailed(sentence(failure(error).message)),
    });
  }
}

export async function setHelperSetting(changes: Partial<HelperSettings>): Promise<void> {
  const previous = useHelperSettings.getState().settings;
  if (previous) useHelperSettings.setState({ settings: { ...previous, ...changes }, error: null });
  try {
    const settings = await invoke('helperSettings.set', changes);
    useHelperSettings.setState({ settings, error: null });
  } catch (error) {
    useHelperSettings.setState({
      settings: previous,
      error: strings.settings.saveFailed(sentence(failure(error).message)),
    });
  }
}

export async function openLink(link: 'help' | 'issues'): Promise<void> {
  try {
    await invoke('app.openLink', { link });
  } catch (error) {
    notify(strings.settings.linkFailed(sentence(failure(error).message)), 'error');
  }
}

// ---- logs ----

function logKey(line: { time: number; source: string; message: string }): string {
  return `${line.time}|${line.source}|${line.message}`;
}

function appendLog(lines: readonly LogLine[]): void {
  useLogs.setState((state) => {
    const next = [...state.lines, ...lines];
    return { lines: next.length > MAX_LOG_LINES ? next.slice(-MAX_LOG_LINES) : next };
  });
}

export async function loadLogs(): Promise<void> {
  useLogs.setState({ load: 'loading', error: null });
  try {
    const tail = await invoke('logs.tail', { lines: LOG_TAIL });
    useLogs.setState((state) => {
      // Lines that arrived live while the tail was on its way may be in both.
      const seen = new Set(tail.map(logKey));
      const live = state.lines.filter((line) => !seen.has(logKey(line)));
      return { lines: [...tail, ...live].slice(-MAX_LOG_LINES), load: 'ready', error: null };
    });
  } catch (error) {
    useLogs.setState({ load: 'error', error: strings.logs.loadFailed(sentence(failure(error).message)) });
  }
}

export async function saveDiagnostics(): Promise<{ path: string } | null> {
  return invoke('app.saveDiagnostics', {});
}

// ---- UI ----

export function navigate(page: Page): void {
  useUi.setState({ page });
}

export function openDialog(dialog: Dialog): void {
  useUi.setState((state) => ({ dialog, dialogKey: state.dialogKey + 1 }));
}

export function closeDialog(): void {
  useUi.setState({ dialog: null });
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;

export function notify(text: string, tone: 'info' | 'error' = 'info'): void {
  clearTimeout(noticeTimer);
  useUi.setState({ notice: { text, tone } });
  noticeTimer = setTimeout(() => useUi.setState({ notice: null }), 6000);
}

export function dismissNotice(): void {
  clearTimeout(noticeTimer);
  useUi.setState({ notice: null });
}
