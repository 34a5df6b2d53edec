// Where the helper service keeps its state, per OS: paths_linux.ts. The control socket's path and
// group are the clients' business too: shared/src/control/socket-path.ts.

import { NotSupportedError } from '../../../shared/src/errors.ts';
import { STATE_DIR_LINUX } from './paths_linux.ts';

function stateDir(): string {
  if (process.platform === 'linux') return STATE_DIR_LINUX;
  throw new NotSupportedError('A state directory for the helper');
}

/** The helper's state directory (stored tunnels, settings, the network journal). */
export const DEFAULT_STATE_DIR = stateDir();
