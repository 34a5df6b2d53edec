// Where the helper service lives on Linux; systemd's RuntimeDirectory= and StateDirectory= make them.

export const DEFAULT_SOCKET_PATH = '/run/phantommesh/helper.sock';
export const DEFAULT_STATE_DIR = '/var/lib/phantommesh';
/** Members of this group may control the helper; root always may. */
export const CONTROL_GROUP = 'phantommesh';
