// The app's settings (kept by the main process) and the helper's (kept by the helper): what the last
// answer or event said, changed optimistically and put back when a change is refused.

import { create, type StoreApi, type UseBoundStore } from 'zustand';
import type { Blocking, Settings as HelperSettings } from '../../../../shared/src/control/protocol.ts';
import type { AppSettings } from '../../../../shared/src/ipc/schema.ts';
import { failure, invoke, sentence } from '../api.ts';
import { strings } from '../strings.ts';

export interface SettingsState<T> {
  settings: T | null;
  error: string | null;
}

type SettingsStore<T> = UseBoundStore<StoreApi<SettingsState<T>>>;

export const useAppSettings = create<SettingsState<AppSettings>>()(() => ({ settings: null, error: null }));
export const useHelperSettings = create<SettingsState<HelperSettings>>()(() => ({
  settings: null,
  error: null,
}));

/** Whether the helper blocks traffic outside the tunnels now, and why (kill switch, lockdown). */
export const useBlocking = create<{ blocking: Blocking }>()(() => ({ blocking: null }));

/** From the status answer or a blocking event. */
export function receiveBlocking(blocking: Blocking): void {
  useBlocking.setState({ blocking });
}

/** The app settings in app.state's answer at start-up. */
export function appSettingsLoaded(settings: AppSettings): void {
  useAppSettings.setState({ settings });
}

/** The app settings from an app-settings event. */
export function receiveAppSettings(settings: AppSettings): void {
  useAppSettings.setState({ settings, error: null });
}

/** The helper's settings from a settings event or the status answer. */
export function receiveHelperSettings(settings: HelperSettings): void {
  useHelperSettings.setState({ settings, error: null });
}

async function change<T extends object>(
  store: SettingsStore<T>,
  changes: Partial<T>,
  save: (changes: Partial<T>) => Promise<T>,
): Promise<void> {
  const previous = store.getState().settings;
  if (previous) store.setState({ settings: { ...previous, ...changes }, error: null });
  try {
    const settings = await save(changes);
    store.setState({ settings, error: null });
  } catch (error) {
    store.setState({
      settings: previous,
      error: strings.settings.saveFailed(sentence(failure(error).message)),
    });
  }
}

export function setAppSetting(changes: Partial<AppSettings>): Promise<void> {
  return change(useAppSettings, changes, (params) => invoke('app.settings.set', params));
}

export function setHelperSetting(changes: Partial<HelperSettings>): Promise<void> {
  return change(useHelperSettings, changes, (params) => invoke('helperSettings.set', params));
}
