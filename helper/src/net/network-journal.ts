// The journal of this OS's network changes: the engine (journal.ts) with the OS's kinds of change.
// The service, the DNS, full-tunnel and kill-switch seams take one; open() picks the kinds.

import { forPlatform } from '../for-platform.ts';
import { Journal } from './journal.ts';
import { linuxNetworkChanges, type ChangeRequest, type NetworkChange } from './network-changes_linux.ts';
import { darwinNetworkChanges } from './network-changes_darwin.ts';
import { windowsNetworkChanges } from './network-changes_windows.ts';

export type { RecoveryReport } from './journal.ts';

export type NetworkJournal = Journal<NetworkChange, ChangeRequest>;

export const NetworkJournal = {
  /** Reads the journal at `path` (the caller's state directory; none yet is an empty journal). */
  open(path: string): Promise<NetworkJournal> {
    return Journal.open(
      path,
      forPlatform('Network configuration', {
        linux: linuxNetworkChanges,
        // One static type for every OS: the _darwin files see their own (network-changes_darwin.ts).
        darwin: darwinNetworkChanges as unknown as typeof linuxNetworkChanges,
        win32: windowsNetworkChanges as unknown as typeof linuxNetworkChanges,
      }),
    );
  },
};
