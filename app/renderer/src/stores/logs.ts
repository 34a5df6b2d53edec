// The helper's log: the tail loaded when the link connects, live lines appended from log events.

import { create } from 'zustand';
import type { LogLine } from '../../../../shared/src/control/protocol.ts';
import { failure, invoke, sentence } from '../api.ts';
import { strings } from '../strings.ts';
import type { LoadState } from './load-state.ts';

const LOG_TAIL = 500;

export const MAX_LOG_LINES = 2000;

export interface LogsState {
  lines: LogLine[];
  load: LoadState;
  error: string | null;
}

export const useLogs = create<LogsState>()(() => ({ lines: [], load: 'loading', error: null }));

function logKey(line: { time: number; source: string; message: string }): string {
  return `${line.time}|${line.source}|${line.message}`;
}

export function appendLog(lines: readonly LogLine[]): void {
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
