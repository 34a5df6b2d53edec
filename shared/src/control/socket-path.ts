// Where the helper's control API listens and who may use it: the helper serves there, and its clients
// (the CLI, the app, the browser host) connect there. systemd's RuntimeDirectory= makes the directory.

export const DEFAULT_SOCKET_PATH = '/run/phantommesh/helper.sock';
/** Members of this group may control the helper; root always may. */
export const CONTROL_GROUP = 'phantommesh';
