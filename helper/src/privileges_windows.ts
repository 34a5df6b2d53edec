// Whether this process may do what the helper does, on Windows: it runs as LocalSystem (the
// service) or with an elevated administrator's token. Windows has no uid 0 (process.getuid is
// undefined there), so the POSIX check in privileges.ts cannot answer for it.

import { advapi32 } from './advapi32_windows.ts';
import { sidBytes } from './control/peercred_windows.ts';

const LOCAL_SYSTEM = 'S-1-5-18';
const ADMINISTRATORS = 'S-1-5-32-544';

/** True when this process's token has SYSTEM or an enabled (elevated) Administrators group. */
export function isPrivilegedWindows(): boolean {
  const member = new Int32Array(1);
  for (const sid of [LOCAL_SYSTEM, ADMINISTRATORS]) {
    // A null token: CheckTokenMembership checks the calling thread's (here the process's) token, and
    // counts only enabled groups, so an unelevated administrator is not privileged.
    if (advapi32().CheckTokenMembership(0n, sidBytes(sid), member) && member[0] !== 0) return true;
  }
  return false;
}
