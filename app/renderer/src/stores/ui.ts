// The UI's own state: the page, the open dialog, the notice. Nothing here comes from the helper.

import { create } from 'zustand';
import { failure, invoke, sentence } from '../api.ts';
import { strings } from '../strings.ts';

export type Page = 'tunnels' | 'logs' | 'settings';

export type Dialog =
  | { kind: 'import'; name: string; text: string; fileName: string | null }
  | { kind: 'create' }
  /** `addPeer`: the editor opens with a [Peer] template added to a tunnel that has none. */
  | { kind: 'edit'; name: string; addPeer?: boolean }
  | { kind: 'export'; name: string }
  | { kind: 'transport'; name: string }
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

/** Opens the help or issues page in the system browser; a failure is a notice. */
export async function openLink(link: 'help' | 'issues'): Promise<void> {
  try {
    await invoke('app.openLink', { link });
  } catch (error) {
    notify(strings.settings.linkFailed(sentence(failure(error).message)), 'error');
  }
}
