// Route and address changes on Windows (NotifyRouteChange2, NotifyUnicastIpAddressChange through
// koffi), for the network watch (service/network-watch_windows.ts) and the bind, which follows the
// default interface (conn/bind_windows.ts). iphlpapi calls back on a thread of its own; koffi queues
// the call to the JS thread. Also the set of this process's own adapters (tun_windows.ts adds them),
// which neither the default interface nor the local networks may be.

import koffi from 'koffi';
import { iphlpapi, MibChangeCallback } from './iphlpapi_windows.ts';
import { AF_UNSPEC } from './sockaddr_windows.ts';

/** The LUIDs of the Wintun adapters this process has open. */
export const ownAdapters = new Set<bigint>();

export interface RouteWatch {
  stop(): void;
}

/** Calls `onChange` (with no detail) for every route or unicast address change, until stopped. */
export function watchRoutes(onChange: () => void): RouteWatch {
  const api = iphlpapi();
  const callback = koffi.register(() => onChange(), koffi.pointer(MibChangeCallback));
  const handles: bigint[] = [];
  for (const notify of [api.NotifyRouteChange2, api.NotifyUnicastIpAddressChange]) {
    const handle = new BigUint64Array(1);
    if (notify(AF_UNSPEC, callback, 0n, 0, handle) === 0) handles.push(handle[0]!);
  }
  return {
    stop() {
      for (const handle of handles.splice(0)) api.CancelMibChangeNotify2(handle);
      koffi.unregister(callback);
    },
  };
}
