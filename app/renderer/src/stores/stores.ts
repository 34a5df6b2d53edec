// The renderer's state, one zustand store per concern. They hold only what the API returns (which
// never includes a private key) plus UI state; feed.ts fills them from events and invoke results.

import { create } from 'zustand';
import type {
  LogLine,
  PublicTunnelConfig,
  Settings as HelperSettings,
  TunnelStatus,
  TunnelSummary,
} from '../../../../shared/src/control/protocol.ts';
import type { AppSettings, HelperConnection } from '../../../../shared/src/ipc/schema.ts';
import type { HostProblem } from '../../../web/wire.ts';
import type { RateHistory } from '../lib/rates.ts';
import type { RetryInfo } from '../lib/status.ts';

export type LoadState = 'loading' | 'ready' | 'error';

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

export interface HelperState {
  connection: HelperConnection;
  /** Set once app.state answered or the first helper-connection event arrived. */
  known: boolean;
  version: string | null;
  /** The window has no `window.phantommesh`, or app.state failed. */
  bridgeError: string | null;
  /** In the browser host only: the page has no link to the host (no token, a wrong one, host gone). */
  hostProblem: HostProblem | null;
  fixing: boolean;
  fixRequested: boolean;
  fixError: string | null;
}

export const useHelper = create<HelperState>()(() => ({
  connection: { state: 'connecting', canFix: false },
  known: false,
  version: null,
  bridgeError: null,
  hostProblem: null,
  fixing: false,
  fixRequested: false,
  fixError: null,
}));

export interface SettingsState<T> {
  settings: T | null;
  error: string | null;
}

export const useAppSettings = create<SettingsState<AppSettings>>()(() => ({ settings: null, error: null }));
export const useHelperSettings = create<SettingsState<HelperSettings>>()(() => ({
  settings: null,
  error: null,
}));

export const MAX_LOG_LINES = 2000;

export interface LogsState {
  lines: LogLine[];
  load: LoadState;
  error: string | null;
}

export const useLogs = create<LogsState>()(() => ({ lines: [], load: 'loading', error: null }));

export type Page = 'tunnels' | 'logs' | 'settings';

export type Dialog =
  | { kind: 'import'; name: string; text: string; fileName: string | null }
  | { kind: 'create' }
  /** `addPeer`: the editor opens with a [Peer] template added to a tunnel that has none. */
  | { kind: 'edit'; name: string; addPeer?: boolean }
  | { kind: 'export'; name: string }
  | { kind: 'delete'; name: string };

export interface UiState {
  page: Page;
  dialog: Dialog | null;
  /** Changes with every openDialog, so a dialog opened again (a second dropped file) starts afresh. */
  dialogKey: number;
  /** A short confirmation ("Exported to …"), announced politely. */
  notice: { text: string; tone: 'info' | 'error' } | null;
  dragging: boolean;
}

export const useUi = create<UiState>()(() => ({
  page: 'tunnels',
  dialog: null,
  dialogKey: 0,
  notice: null,
  dragging: false,
}));
