// How every seam of the helper (tun/tun.ts, conn/bind.ts, net/net.ts, net/dns.ts, net/killswitch.ts,
// net/network-journal.ts, control/peercred.ts, service/sd-notify.ts, service/network-watch.ts,
// service/paths.ts, service/memory-release.ts, privileges.ts) picks the implementation of the OS it runs on.

import { NotSupportedError } from '../../shared/src/errors.ts';

/** This OS's entry of `implementations`; on an OS without one, a NotSupportedError: "`what` is not
 *  supported on this OS yet". */
export function forPlatform<T>(what: string, implementations: Partial<Record<NodeJS.Platform, T>>): T {
  const implementation = implementations[process.platform];
  if (implementation === undefined) throw new NotSupportedError(what);
  return implementation;
}
