// Whether this process has the privileges the helper needs (TUN devices, routes, the firewall): root
// on Linux and macOS; LocalSystem or an elevated administrator on Windows (privileges_windows.ts).

import { forPlatform } from './for-platform.ts';
import { isPrivilegedWindows } from './privileges_windows.ts';

const isRoot = (): boolean => process.getuid?.() === 0;

export function isPrivileged(): boolean {
  return forPlatform('Checking privileges', { linux: isRoot, darwin: isRoot, win32: isPrivilegedWindows })();
}
