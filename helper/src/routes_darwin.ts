// What the _darwin modules share about the machine's network: running the system's tools (never
// through a shell), the routing table as `netstat -rn` prints it and the default route in it, a watch
// of routing changes (`route -n monitor`, one child for every subscriber), and the names of our utun
// interfaces. macOS names every utun itself (utun0, utun1, ...): a tunnel called "office" lives on,
// say, utun4, and every tool must be given that name (wg-quick keeps the same map in
// /var/run/wireguard/office.name). The parsers are pure and unit-tested on Linux.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { PhantomError } from '../../shared/src/errors.ts';
import { onLines } from './lines.ts';
import { formatIp, parseIp, type Family } from '../../shared/src/ip.ts';

// The helper runs as root: fixed locations, not PATH.
export const IFCONFIG = '/sbin/ifconfig';
export const ROUTE = '/sbin/route';
export const NETSTAT = '/usr/sbin/netstat';
export const SCUTIL = '/usr/sbin/scutil';
export const PFCTL = '/sbin/pfctl';

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function runTool(path: string, args: string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(path, args, { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) => {
      if (!error) return resolve({ exitCode: 0, stdout, stderr });
      if (typeof error.code === 'number') return resolve({ exitCode: error.code, stdout, stderr });
      reject(new PhantomError('NET_CONFIG_FAILED', `${basename(path)} ${args.join(' ')}: ${error.message}`));
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

export function toolFailure(path: string, args: string[], result: ToolResult): PhantomError {
  const said = result.stderr.trim() || result.stdout.trim() || `exit code ${result.exitCode}`;
  return new PhantomError('NET_CONFIG_FAILED', `${basename(path)} ${args.join(' ')} failed: ${said}`);
}

export async function runChecked(path: string, args: string[], input?: string): Promise<string> {
  const result = await runTool(path, args, input);
  if (result.exitCode !== 0) throw toolFailure(path, args, result);
  return result.stdout;
}

// ---------------------------------------------------------------------------------------------
// The routing table.

export interface RouteEntry {
  /** As netstat prints it: `default`, `10.0.0/24`, `192.168.1.1`, `fe80::%utun0/64`. */
  destination: string;
  /** An address, `link#6`, or a MAC address. */
  gateway: string;
  flags: string;
  netif: string;
}

/**
 * `netstat -rn -f inet` (or `-f inet6`) as entries. The columns are found by the header line
 * (Destination, Gateway, Flags, Netif; older releases add Refs and Use), so either layout parses.
 */
export function parseNetstatRoutes(text: string): RouteEntry[] {
  const entries: RouteEntry[] = [];
  let columns: string[] | undefined;
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === 'Destination') {
      columns = fields;
      continue;
    }
    if (!columns || fields.length < 4 || line.trim() === '') continue;
    if (/^(Internet6?|Routing tables):?$/.test(line.trim())) continue;
    const at = (name: string) => fields[columns!.indexOf(name)] ?? '';
    entries.push({
      destination: at('Destination'),
      gateway: at('Gateway'),
      flags: at('Flags'),
      netif: at('Netif'),
    });
  }
  return entries;
}

export interface DefaultRoute {
  /** The router, an IP literal (an IPv6 link-local one keeps its `%en0`); absent for a link route. */
  gateway?: string;
  interface: string;
}

/**
 * The machine's own default route among `routes`: not through one of `exclude` (our tunnels) nor
 * any other utun or point-to-point VPN link, preferring the unscoped entry (flag I marks a route
 * scoped to one interface) and one with a gateway.
 */
export function pickDefaultRoute(
  routes: readonly RouteEntry[],
  exclude: readonly string[],
): DefaultRoute | null {
  const candidates = routes.filter(
    (route) =>
      (route.destination === 'default' ||
        route.destination === '0.0.0.0/0' ||
        route.destination === '::/0') &&
      route.netif !== '' &&
      !exclude.includes(route.netif) &&
      !/^(utun|ipsec|ppp|lo)\d*$/.test(route.netif),
  );
  const score = (route: RouteEntry) =>
    (route.flags.includes('I') ? 0 : 2) + (route.flags.includes('G') ? 1 : 0);
  const best = candidates.sort((a, b) => score(b) - score(a))[0];
  if (!best) return null;
  const gateway = parseGateway(best.gateway);
  return gateway ? { gateway, interface: best.netif } : { interface: best.netif };
}

/** A gateway column as an IP literal (zone kept), or undefined for `link#N` or a MAC address. */
export function parseGateway(text: string): string | undefined {
  const [literal, zone] = text.split('%', 2) as [string, string | undefined];
  const bytes = parseIp(literal);
  if (!bytes) return undefined;
  return formatIp(bytes) + (zone ? `%${zone}` : '');
}

/** The default route of `family` now, leaving out `exclude`; null when the machine has none (offline). */
export async function readDefaultRoute(
  family: Family,
  exclude: readonly string[] = [],
): Promise<DefaultRoute | null> {
  const stdout = await runChecked(NETSTAT, ['-rn', '-f', family === 4 ? 'inet' : 'inet6']);
  return pickDefaultRoute(parseNetstatRoutes(stdout), [...exclude, ...utunNames()]);
}

// ---------------------------------------------------------------------------------------------
// Routing changes: `route -n monitor` prints a block for every routing message the kernel sends.

export interface RouteWatch {
  stop(): void;
}

const DEBOUNCE_MS = 1000;
const subscribers = new Set<(lines: string[]) => void>();
let monitor: ChildProcess | undefined;

function startMonitor(): void {
  let block: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const child = spawn(ROUTE, ['-n', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  monitor = child;
  onLines(child.stdout!, (line) => {
    block.push(line);
    timer ??= setTimeout(() => {
      timer = undefined;
      const lines = block;
      block = [];
      for (const subscriber of subscribers) subscriber(lines);
    }, DEBOUNCE_MS);
  });
  child.on('error', () => {});
  child.on('exit', () => {
    if (monitor !== child) return;
    monitor = undefined;
    // An optimisation only (tunnels also handshake on their own backoff): started again while wanted.
    if (subscribers.size > 0)
      setTimeout(() => subscribers.size > 0 && !monitor && startMonitor(), 5000).unref();
  });
}

/** Calls `onChange` with the monitor's lines (at most once a second) whenever the routing table,
 *  an interface or an address changes. */
export function watchRoutes(onChange: (lines: string[]) => void): RouteWatch {
  subscribers.add(onChange);
  if (!monitor) startMonitor();
  return {
    stop() {
      subscribers.delete(onChange);
      if (subscribers.size === 0 && monitor) {
        const child = monitor;
        monitor = undefined;
        child.kill();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Our utun interfaces, by the tunnel's name.

const utuns = new Map<string, string>();

/** Records that tunnel `name` lives on `utun` (tun_darwin.ts, once the kernel named it). */
export function registerUtun(name: string, utun: string): void {
  utuns.set(name, utun);
}

export function forgetUtun(name: string): void {
  utuns.delete(name);
}

/** The name the system knows a tunnel's interface by: its utun, or the name itself if it is one (or
 *  no tunnel of that name is open: a tool then reports that the interface does not exist). */
export function realInterfaceName(name: string): string {
  return utuns.get(name) ?? name;
}

/** The utun names of our open tunnels. */
export function utunNames(): string[] {
  return [...utuns.values()];
}

/** The tunnel names of our open tunnels, by their utun (the reverse of realInterfaceName). */
export function tunnelOfUtun(utun: string): string | undefined {
  for (const [name, real] of utuns) if (real === utun) return name;
  return undefined;
}
