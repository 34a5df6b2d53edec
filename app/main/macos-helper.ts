// What the app tells a Mac's user when the helper does not answer: whether its LaunchDaemon is
// installed at all (the pkg installs it; the DMG alone does not), and what to do either way.

import { existsSync } from 'node:fs';

export const MACOS_HELPER_PLIST = '/Library/LaunchDaemons/net.phantommesh.helper.plist';

export function macosHelperHint(installed: (path: string) => boolean = existsSync): string {
  if (!installed(MACOS_HELPER_PLIST))
    return (
      'The PhantomMesh helper is not installed on this Mac. Open PhantomMesh.pkg (from the release ' +
      'page or the DMG) and follow the installer: it installs the helper as a system service.'
    );
  return (
    'The helper is installed but not running. Allow PhantomMesh in System Settings > General > Login ' +
    'Items ("Allow in the Background"), or run: sudo launchctl kickstart -k system/net.phantommesh.helper'
  );
}
