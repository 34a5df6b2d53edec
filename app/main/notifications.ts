// When the app speaks up with a system notification. The rules are pure functions of what was and what
// is; `watchNotifications` feeds them from the helper link and the tunnel tracker and hands what they
// decide to the platform (Electron's Notification, or a log line in the browser host).

import type { TunnelStatus } from '../../shared/src/control/protocol.ts';
import type { HelperConnection } from '../../shared/src/ipc/schema.ts';
import type { HelperLink } from './helper-link.ts';
import type { TunnelTracker } from './tunnel-tracker.ts';

export interface AppNotification {
  title: string;
  body: string;
  /** The tunnel it is about: clicking the notification shows it. */
  tunnel?: string;
}

/**
 * A tunnel's status changed from `previous` (undefined: not reported before) to `next`. Silent while
 * the helper itself is not connected: then its notification is the one that matters.
 *
 * A tunnel someone took down (the app, the CLI) goes to 'disconnected'; one that failed goes to
 * 'error', so only that one is "unexpected". Of a reconnect, only the first attempt is announced:
 * the tray and the window show the ones after it.
 */
export function tunnelNotification(
  previous: TunnelStatus | undefined,
  next: TunnelStatus,
  helper: HelperConnection,
): AppNotification | null {
  if (helper.state !== 'connected') return null;
  const was = previous?.state ?? 'disconnected';
  if (next.state === was) return null;
  const tunnel = next.name;
  switch (next.state) {
    case 'connected':
      return {
        title: `Connected to ${tunnel}`,
        body: next.endpoint ? `Through ${next.endpoint}.` : 'The tunnel is up.',
        tunnel,
      };
    case 'reconnecting':
      return {
        title: `Reconnecting to ${tunnel} (attempt ${next.attempt ?? 1})`,
        body: next.reason ?? 'The server stopped answering.',
        tunnel,
      };
    case 'error':
      if (was !== 'connected' && was !== 'reconnecting') return null;
      return {
        title: `${tunnel} disconnected unexpectedly`,
        body: next.reason ?? 'The tunnel went down.',
        tunnel,
      };
    default:
      return null;
  }
}

/**
 * The link to the helper changed. `previous` is the last state other than 'connecting' (a lost link
 * passes through 'connecting' on its way to 'unavailable'). Only losing a helper that was there is
 * news: at start-up the window already shows why there is none.
 */
export function helperNotification(
  previous: HelperConnection['state'] | undefined,
  next: HelperConnection,
): AppNotification | null {
  if (previous !== 'connected' || next.state === 'connected' || next.state === 'connecting') return null;
  return { title: 'PhantomMesh helper unavailable', body: next.message ?? 'The app lost its helper.' };
}

/** Another program removed or changed the kill switch's rules and the helper put them back. */
export function firewallRestoredNotification(reason: string): AppNotification {
  return {
    title: 'Kill switch restored',
    body: `Another program removed the kill switch; PhantomMesh restored it (${reason}).`,
  };
}

/** Applies the rules to everything the link and the tracker report; returns the unsubscribe function. */
export function watchNotifications(
  link: HelperLink,
  tracker: TunnelTracker,
  notify: (notification: AppNotification) => void,
): () => void {
  let settled: HelperConnection['state'] | undefined =
    link.status.state === 'connecting' ? undefined : link.status.state;
  const stops = [
    link.onStatus((connection) => {
      const notification = helperNotification(settled, connection);
      if (notification) notify(notification);
      if (connection.state !== 'connecting') settled = connection.state;
    }),
    link.onEvent((event) => {
      if (event.type === 'firewall-restored') notify(firewallRestoredNotification(event.reason));
    }),
    tracker.onStatusChange((previous, next) => {
      const notification = tunnelNotification(previous, next, link.status);
      if (notification) notify(notification);
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
