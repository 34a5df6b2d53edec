// A full tunnel on macOS, as wg-quick's darwin.bash makes it: macOS has no policy routing, so the
// default route stays and two routes more specific than it take every address, 0.0.0.0/1 and
// 128.0.0.0/1 (::/1 and 8000::/1 for IPv6), through the utun. The tunnel's own datagrams do not loop
// into it because its sockets are bound to the physical interface (IP_BOUND_IF, bind_darwin.ts);
// each peer's endpoint also gets a host route through the physical gateway, so that anything else
// reaching it (a relay's connection before it is bound) goes around the tunnel. Those routes follow
// the endpoints (read from the interface's UAPI socket, as `wg show IFNAME endpoints` would) and the
// default gateway (the route monitor), and every route goes through the journal: a crash leaves no
// host route behind that the next start does not remove.

import { connect } from 'node:net';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatIp, parseHostPort, parseIp, type Family } from '../../../shared/src/ip.ts';
import { readDefaultRoute, watchRoutes, type RouteWatch } from '../routes_darwin.ts';
import type { FullTunnelOptions } from './net.ts';
import type { DarwinJournal, DarwinNetworkChange } from './network-changes_darwin.ts';
import type { NetworkJournal } from './network-journal.ts';

const darwin = (journal: NetworkJournal) => journal as unknown as DarwinJournal;

/** wg-quick's fwmark number: on macOS it means "bound to the default interface" (bind_darwin.ts). */
export const FULL_TUNNEL_MARK = 51820;
const UAPI_DIR = '/var/run/wireguard';
const ENDPOINT_CHECK_MS = 5000;

/** The routes that cover a family's whole address space without replacing the default route. */
export function halfRoutes(family: Family): ('0.0.0.0/1' | '128.0.0.0/1' | '::/1' | '8000::/1')[] {
  return family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1'];
}

/** The endpoint addresses in a UAPI `get=1` answer (`endpoint=1.2.3.4:51820`, `endpoint=[v6]:port`). */
export function uapiEndpoints(text: string): string[] {
  const addresses = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('endpoint=')) continue;
    const hostPort = parseHostPort(line.slice('endpoint='.length));
    const bytes = hostPort ? parseIp(hostPort.host) : null;
    if (bytes) addresses.add(formatIp(bytes));
  }
  return [...addresses];
}

export interface EndpointRoute {
  family: Family;
  destination: string;
  gateway?: string;
  interface: string;
}

/** The host routes the endpoints need through each family's default route (none without one). */
export function endpointRoutes(
  endpoints: readonly string[],
  defaults: {
    4: { gateway?: string; interface: string } | null;
    6: { gateway?: string; interface: string } | null;
  },
): EndpointRoute[] {
  return endpoints.flatMap((endpoint) => {
    const family: Family = endpoint.includes(':') ? 6 : 4;
    const route = defaults[family];
    if (!route) return [];
    return [
      {
        family,
        destination: `${endpoint}/${family === 4 ? 32 : 128}`,
        ...(route.gateway ? { gateway: route.gateway } : {}),
        interface: route.interface,
      },
    ];
  });
}

function readUapi(ifname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(`${UAPI_DIR}/${ifname}.sock`);
    let text = '';
    const timer = setTimeout(() => socket.destroy(new Error('no answer')), 2000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('get=1\n\n'));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.endsWith('\n\n')) socket.end();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

interface Keeper {
  timer: NodeJS.Timeout;
  routes: RouteWatch;
  running: Promise<void>;
}

const keepers = new Map<string, Keeper>();

type EndpointRouteChange = Extract<DarwinNetworkChange, { kind: 'endpoint-route' }>;

const sameRoute = (a: EndpointRoute, b: EndpointRouteChange) =>
  a.destination === b.destination && a.gateway === b.gateway && a.interface === b.interface;

/** Brings the endpoint host routes of `ifname` in line with its endpoints and the default routes. */
async function syncEndpointRoutes(journal: DarwinJournal, ifname: string): Promise<void> {
  const endpoints = uapiEndpoints(await readUapi(ifname));
  const defaults = { 4: await readDefaultRoute(4), 6: await readDefaultRoute(6) };
  const wanted = endpointRoutes(endpoints, defaults);
  const have = journal.changes.filter(
    (change): change is EndpointRouteChange => change.kind === 'endpoint-route' && change.ifname === ifname,
  );
  const stale = have.filter((change) => !wanted.some((route) => sameRoute(route, change)));
  if (stale.length > 0) await journal.undo((change) => stale.includes(change as EndpointRouteChange));
  for (const route of wanted)
    if (!have.some((change) => sameRoute(route, change)))
      await journal.apply({ kind: 'endpoint-route', ifname, ...route });
}

function startKeeper(journal: DarwinJournal, ifname: string): Keeper {
  const keeper: Keeper = {
    running: Promise.resolve(),
    timer: setInterval(() => sync(), ENDPOINT_CHECK_MS),
    routes: watchRoutes(() => sync()),
  };
  const sync = () => {
    keeper.running = keeper.running
      .then(() => (keepers.get(ifname) === keeper ? syncEndpointRoutes(journal, ifname) : undefined))
      .catch((error: Error) => console.error(`${ifname}: endpoint routes: ${error.message}`));
  };
  keeper.timer.unref();
  sync();
  return keeper;
}

export async function enableFullTunnel(
  journal: NetworkJournal,
  options: FullTunnelOptions,
): Promise<{ table: number; fwmark: number }> {
  const { ifname } = options;
  const families = ([4, 6] as const).filter((family) => options.families[family === 4 ? 'v4' : 'v6']);
  if (families.length === 0)
    throw new PhantomError('FULL_TUNNEL_INVALID', `${ifname}: a full tunnel needs IPv4 or IPv6 (or both)`);
  const fwmark = options.fwmark ?? FULL_TUNNEL_MARK;
  const j = darwin(journal);
  try {
    for (const family of families)
      for (const destination of halfRoutes(family))
        await j.apply({ kind: 'route', ifname, family, destination });
    keepers.set(ifname, startKeeper(j, ifname));
  } catch (error) {
    await disableFullTunnel(journal, ifname).catch(() => undefined);
    throw error;
  }
  // One routing table: no number to give; the mark is what the caller's sockets must carry.
  return { table: 0, fwmark };
}

export async function disableFullTunnel(journal: NetworkJournal, ifname: string): Promise<void> {
  const keeper = keepers.get(ifname);
  keepers.delete(ifname);
  if (keeper) {
    clearInterval(keeper.timer);
    keeper.routes.stop();
    await keeper.running;
  }
  await darwin(journal).undo(
    (change) => (change.kind === 'route' || change.kind === 'endpoint-route') && change.ifname === ifname,
  );
}

/** What the seam (net.ts) takes from this file. */
export const fullTunnelDarwin = { enableFullTunnel, disableFullTunnel };
