// The relay's TCP connection kept off the tunnels on Windows. Node cannot set IP_UNICAST_IF on a
// socket before it connects (and has no handle to set it on), so the socket is bound to an address of
// the machine's default interface with our adapters set aside (default-route_windows.ts): Windows'
// strong host model sends a socket bound to an address only through that address's interface, which
// keeps it out of a full tunnel's default route. The WFP kill switch lets this TCP out to the relay
// by program (wfp-plan_windows.ts). A mark of 0 never comes here (relay-transport.ts connects plainly).

import { connect, type Socket } from 'node:net';
import { parseIp } from '../../../shared/src/ip.ts';
import { defaultInterface } from '../net/default-route_windows.ts';
import { addressTable, interfaceMetric, routeTable } from '../net/ipconfig_windows.ts';
import { ownAdapters } from '../route-watch_windows.ts';
import type { MarkedConnectOptions } from './marked-socket.ts';

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export function connectMarkedWindows(options: MarkedConnectOptions): Promise<Socket> {
  const { address, port, timeoutMs, signal } = options;
  const bytes = parseIp(address);
  if (!bytes) return Promise.reject(codedError('EINVAL', `"${address}" is not an IP address`));
  const family = bytes.length === 4 ? 4 : 6;
  const chosen = defaultInterface(family, routeTable(), addressTable(), ownAdapters, (luid) =>
    interfaceMetric(luid, family),
  );
  if (!chosen?.address)
    return Promise.reject(codedError('ENETUNREACH', `no IPv${family} default interface outside the tunnels`));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, localAddress: chosen.address!, family });
    const timer = setTimeout(
      () => finish(codedError('ETIMEDOUT', `connecting to ${address}:${port} timed out`)),
      timeoutMs,
    );
    const onAbort = () =>
      finish(signal?.reason instanceof Error ? signal.reason : codedError('ECANCELED', 'aborted'));
    const finish = (error?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', finish);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(socket);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', finish);
    socket.once('connect', () => finish());
  });
}
