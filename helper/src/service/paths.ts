// Where the helper service keeps its state, per OS: paths_linux.ts. The control socket's path and
// group are the clients' business too: shared/src/control/socket-path.ts.

import { forPlatform } from '../for-platform.ts';
import { STATE_DIR_LINUX } from './paths_linux.ts';

/** The helper's state directory (stored tunnels, settings, the network journal). */
export function defaultStateDir(): string {
  return forPlatform('A state directory for the helper', { linux: STATE_DIR_LINUX });
}
