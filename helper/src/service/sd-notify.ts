// The service manager's readiness protocol: systemd's sd_notify(3), one datagram such as "READY=1",
// "STOPPING=1" or "STATUS=..." to the socket named by $NOTIFY_SOCKET. One implementation per OS:
// sd-notify_linux.ts.

import { forPlatform } from '../for-platform.ts';
import { sdNotifyDarwin } from './sd-notify_darwin.ts';
import { sdNotifyLinux } from './sd-notify_linux.ts';
import { sdNotifyWindows } from './sd-notify_windows.ts';

/**
 * Sends `state` (newline-separated KEY=VALUE lines) to systemd. Returns false when the helper does not
 * run under systemd's notify protocol ($NOTIFY_SOCKET unset) and true once the datagram is sent;
 * throws SD_NOTIFY_FAILED if it cannot be.
 */
export function sdNotify(state: string): boolean {
  const target = process.env.NOTIFY_SOCKET;
  if (!target) return false;
  forPlatform('systemd notification', {
    linux: sdNotifyLinux,
    darwin: sdNotifyDarwin,
    win32: sdNotifyWindows,
  })(target, state);
  return true;
}
