// Where the helper service keeps its state on Linux; systemd's StateDirectory= makes it. The control
// socket's path and group are the clients' business too: shared/src/control/socket-path.ts.

export const DEFAULT_STATE_DIR = '/var/lib/phantommesh';
