// macOS's network-change watch (the seam is network-watch.ts): the routing socket's messages as
// `route -n monitor` prints them (routes_darwin.ts shares one monitor between its users). A burst
// that only concerns our own utuns (bringing a tunnel up is one) is not a change of the network.

import { realInterfaceName, watchRoutes } from '../routes_darwin.ts';
import type { NetworkWatch } from './network-watch.ts';

/** Whether a burst of monitor lines names an interface other than `ours` (or none at all, which a
 *  default route change may not). */
export function concernsOthers(lines: readonly string[], ours: readonly string[]): boolean {
  const named = new Set<string>();
  for (const line of lines)
    for (const match of line.matchAll(/\b((?:en|utun|bridge|pdp_ip|ipsec|ppp)\d+)\b/g)) named.add(match[1]!);
  if (named.size === 0) return lines.some((line) => line.trim() !== '');
  return [...named].some((name) => !ours.includes(name));
}

export function watchNetworkDarwin(onChange: () => void, ours: () => string[]): NetworkWatch {
  const watch = watchRoutes((lines) => {
    if (concernsOthers(lines, ours().map(realInterfaceName))) onChange();
  });
  return { stop: () => watch.stop() };
}
