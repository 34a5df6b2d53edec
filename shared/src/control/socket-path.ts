// Where the helper's control API listens and who may use it: the helper serves there, and its clients
// (the CLI, the app, the browser host) connect there. On Linux systemd's RuntimeDirectory= makes the
// directory; on macOS (/var/run is emptied at boot) the helper's listener makes it. Windows: a named pipe, and a
// local group the installer creates (installers/windows/installer.nsh).

export const DEFAULT_SOCKET_PATH =
  process.platform === 'win32'
    ? '\\\\.\\pipe\\phantommesh'
    : process.platform === 'darwin'
      ? '/var/run/phantommesh/helper.sock'
      : '/run/phantommesh/helper.sock';
/** Members of this group may control the helper; root always may. The macOS installer creates it
 *  and adds the installing user (installers/macos/postinstall). */
export const CONTROL_GROUP = process.platform === 'win32' ? 'PhantomMesh Users' : 'phantommesh';
