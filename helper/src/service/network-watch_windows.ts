// Network changes on Windows: iphlpapi's route and address notifications (route-watch_windows.ts),
// debounced to one call a second, and only when what is outside our own interfaces changed (the
// routes and addresses of the other interfaces, compared as text), since a tunnel coming up is
// itself a burst of changes.

import { addressTable, interfaceLuid, routeTable } from '../net/ipconfig_windows.ts';
import { ownAdapters, watchRoutes } from '../route-watch_windows.ts';
import type { NetworkWatch } from './network-watch.ts';

const DEBOUNCE = 1000;

/** What the machine's network looks like outside `excluded`, as comparable text. Pure but for I/O
 *  passed in. */
export function networkFingerprint(
  routes: readonly {
    luid: bigint;
    destination: { address: string; bits: number };
    nextHop: string;
    metric: number;
  }[],
  addresses: readonly { luid: bigint; address: string; prefixLength: number }[],
  excluded: ReadonlySet<bigint>,
): string {
  const lines = [
    ...routes
      .filter((r) => !excluded.has(r.luid))
      .map((r) => `r ${r.luid} ${r.destination.address}/${r.destination.bits} ${r.nextHop} ${r.metric}`),
    ...addresses
      .filter((a) => !excluded.has(a.luid))
      .map((a) => `a ${a.luid} ${a.address}/${a.prefixLength}`),
  ];
  return lines.sort().join('\n');
}

export function watchNetworkWindows(onChange: () => void, ours: () => string[]): NetworkWatch {
  const excluded = () =>
    new Set([
      ...ownAdapters,
      ...ours()
        .map(interfaceLuid)
        .filter((luid): luid is bigint => luid !== null),
    ]);
  const read = () => networkFingerprint(routeTable(), addressTable(), excluded());
  let last = read();
  let timer: NodeJS.Timeout | undefined;
  const watch = watchRoutes(() => {
    timer ??= setTimeout(() => {
      timer = undefined;
      const now = read();
      if (now === last) return;
      last = now;
      onChange();
    }, DEBOUNCE);
  });
  return {
    stop() {
      clearTimeout(timer);
      watch.stop();
    },
  };
}
