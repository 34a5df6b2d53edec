// Which interface the machine's traffic leaves by when the tunnels are set aside: the default route
// of least total metric (route metric + interface metric, as Windows ranks them) that is not on one
// of our adapters. The bind sends its UDP there (IP_UNICAST_IF) and the relay's TCP socket binds to
// its address, as wireguard-windows does, so a full tunnel's own packets never loop into it. Pure.

import type { AddressEntry, RouteEntry } from './ipconfig_windows.ts';

export interface DefaultInterface {
  luid: bigint;
  index: number;
  /** A unicast address on it of that family (for binding a TCP socket), if any. */
  address: string | null;
}

export function defaultInterface(
  family: 4 | 6,
  routes: readonly RouteEntry[],
  addresses: readonly AddressEntry[],
  ours: ReadonlySet<bigint>,
  metricOf: (luid: bigint) => number,
): DefaultInterface | null {
  let best: { route: RouteEntry; metric: number } | null = null;
  for (const route of routes) {
    if (route.destination.family !== family || route.destination.bits !== 0 || ours.has(route.luid)) continue;
    const metric = route.metric + metricOf(route.luid);
    if (!best || metric < best.metric || (metric === best.metric && route.index < best.route.index))
      best = { route, metric };
  }
  if (!best) return null;
  const candidates = addresses.filter(
    (a) =>
      a.luid === best.route.luid &&
      a.family === family &&
      !(family === 6 && a.address.toLowerCase().startsWith('fe80:')) &&
      !(family === 4 && a.address.startsWith('169.254.')),
  );
  return { luid: best.route.luid, index: best.route.index, address: candidates[0]?.address ?? null };
}
