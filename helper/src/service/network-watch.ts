// Notices when the machine's network changes (a link, address or route comes or goes), so tunnels
// can handshake again at once instead of waiting for their backoff. One implementation per OS:
// network-watch_linux.ts.

import { forPlatform } from '../for-platform.ts';
import { watchNetworkDarwin } from './network-watch_darwin.ts';
import { watchNetworkLinux } from './network-watch_linux.ts';
import { watchNetworkWindows } from './network-watch_windows.ts';

export interface NetworkWatch {
  stop(): void;
}

/**
 * Calls `onChange` (at most once per second) for changes that do not concern our own interfaces;
 * `ours` names them, since bringing a tunnel up is itself a burst of changes.
 */
export function watchNetwork(onChange: () => void, ours: () => string[]): NetworkWatch {
  return forPlatform('Watching network changes', {
    linux: watchNetworkLinux,
    darwin: watchNetworkDarwin,
    win32: watchNetworkWindows,
  })(onChange, ours);
}
