// The app's link to the helper, as the main process reports it, and what stands between the page and
// the app: a missing bridge, or in the browser host a page without its link to the host. Also
// "Start helper".

import { create } from 'zustand';
import type { HelperConnection } from '../../../../shared/src/ipc/schema.ts';
import type { HostProblem } from '../../../web/wire.ts';
import { failure, invoke, sentence } from '../api.ts';

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

/** The codes the browser host's shim rejects calls with when the page has no link to the host. */
const HOST_PROBLEMS: Partial<Record<string, HostProblem>> = {
  NO_TOKEN: 'no-token',
  TOKEN_REFUSED: 'token-refused',
  HOST_UNREACHABLE: 'host-unreachable',
  HOST_CLOSED: 'host-closed',
};

/** Returns true when this connects a link that was not connected (its data is then to be loaded). */
export function setConnection(connection: HelperConnection): boolean {
  const wasConnected = useHelper.getState().connection.state === 'connected';
  useHelper.setState({
    connection,
    known: true,
    ...(connection.state === 'connected' ? { fixRequested: false, fixError: null } : {}),
  });
  return connection.state === 'connected' && !wasConnected;
}

/** app.state's answer; returns what setConnection does, or false if a newer event came first. */
export function appStateLoaded(version: string, connection: HelperConnection): boolean {
  useHelper.setState({ version });
  // A helper-connection event that came first is newer than this answer.
  return !useHelper.getState().known && setConnection(connection);
}

/** app.state failed: in the browser host a refused page is told why (the shim's codes). */
export function appStateFailed(error: unknown): void {
  const { code, message } = failure(error);
  const problem = code !== undefined ? HOST_PROBLEMS[code] : undefined;
  if (problem) setHostProblem(problem);
  // A host-problem event that came first says more than the failed call.
  else if (useHelper.getState().hostProblem === null) bridgeMissing(message);
}

export function setHostProblem(problem: HostProblem): void {
  useHelper.setState({ hostProblem: problem, known: true });
}

/** The bridge itself is missing (no preload, no host script). */
export function bridgeMissing(message: string): void {
  useHelper.setState({ bridgeError: message, known: true });
}

export async function fixHelper(): Promise<void> {
  useHelper.setState({ fixing: true, fixError: null });
  try {
    await invoke('app.fixHelper', {});
    useHelper.setState({ fixing: false, fixRequested: true });
  } catch (error) {
    useHelper.setState({ fixing: false, fixError: sentence(failure(error).message) });
  }
}
