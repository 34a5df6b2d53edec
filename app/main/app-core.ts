// The part of the main process both hosts run, the Electron app and the browser host: the link to the
// helper, the tunnel tracker, the app settings, the controller and the notification rules.

import type { AppEvent } from '../../shared/src/ipc/schema.ts';
import { AppSettingsStore } from './app-settings.ts';
import { AppController } from './app-controller.ts';
import { HelperLink, type Backoff } from './helper-link.ts';
import { watchNotifications } from './notifications.ts';
import type { Platform } from './platform.ts';
import { TunnelTracker } from './tunnel-tracker.ts';

export interface CoreOptions {
  socketPath: string;
  /** Where the app settings are kept (a JSON file in the user's config directory). */
  settingsPath: string;
  platform: Platform;
  version: string;
  emit: (event: AppEvent) => void;
  log: (message: string) => void;
  backoff?: Backoff;
}

export interface Core {
  link: HelperLink;
  tracker: TunnelTracker;
  settings: AppSettingsStore;
  controller: AppController;
  stop(): void;
}

export async function startCore(options: CoreOptions): Promise<Core> {
  const settings = await AppSettingsStore.open(options.settingsPath, options.log);
  const link = new HelperLink({
    socketPath: options.socketPath,
    client: `phantommesh-app ${options.version}`,
    canFix: options.platform.canFixHelper,
    // Read at each failure: on Windows the hint follows the service's state (electron-platform.ts).
    unavailableHint: () => options.platform.helperHint,
    ...(options.platform.unauthorizedMessage
      ? { unauthorizedMessage: options.platform.unauthorizedMessage }
      : {}),
    ...(options.platform.openHelper ? { openVerified: options.platform.openHelper } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });
  const tracker = new TunnelTracker(link, options.log);
  const controller = new AppController({
    link,
    settings,
    platform: options.platform,
    version: options.version,
    emit: options.emit,
    log: options.log,
  });
  const stopNotifications = watchNotifications(link, tracker, (notification) =>
    options.platform.notify(notification),
  );
  link.onStatus((connection) =>
    options.log(`helper: ${connection.state}${connection.message ? ` (${connection.message})` : ''}`),
  );
  // Listeners first, then the link: the first state change is heard by everyone.
  tracker.start();
  controller.start();
  link.start();
  return {
    link,
    tracker,
    settings,
    controller,
    stop() {
      stopNotifications();
      controller.stop();
      tracker.stop();
      link.stop();
    },
  };
}
