// macOS network configuration through the tools wg-quick's darwin.bash uses: ifconfig for addresses,
// MTU and link state, route(8) for routes. Arguments go to execFile as an array, never through a
// shell. Every name given here is a tunnel's name, mapped to its utun (routes_darwin.ts). macOS has
// one routing table (with per-interface scoped routes, which IP_BOUND_IF uses), so a `table` is
// refused.

import { PhantomError } from '../../../shared/src/errors.ts';
import {
  formatIp,
  formatPrefix,
  maskedPrefix,
  parseIp,
  type Family,
  type IpPrefix,
} from '../../../shared/src/ip.ts';
import { IFCONFIG, realInterfaceName, ROUTE, runChecked, runTool, toolFailure } from '../routes_darwin.ts';

/** `ifconfig` arguments adding an address: IPv4 on a point-to-point utun needs a destination, which is
 *  the address itself (as wg-quick); IPv6 takes the prefix. */
export function addressArgs(utun: string, prefix: IpPrefix): string[] {
  return prefix.family === 4
    ? [utun, 'inet', formatPrefix(prefix), prefix.address, 'alias']
    : [utun, 'inet6', formatPrefix(prefix), 'alias'];
}

/** `route` arguments for a route to a network through an interface, or through a gateway. */
export function routeArgs(
  verb: 'add' | 'delete',
  destination: IpPrefix,
  via: { interface: string } | { gateway: string },
): string[] {
  const network = formatPrefix(maskedPrefix(destination));
  const target = 'interface' in via ? ['-interface', via.interface] : [via.gateway];
  return ['-q', '-n', verb, destination.family === 4 ? '-inet' : '-inet6', network, ...target];
}

// How route(8) says that what is to be deleted is not there, or what is to be added already is.
const ROUTE_GONE = /not in table|No such process|bad address|not found/i;
const ROUTE_EXISTS = /File exists/i;

/** Runs route(8): true when it did something, false when the route was already there (add) or gone (delete). */
export async function runRoute(args: string[]): Promise<boolean> {
  const result = await runTool(ROUTE, args);
  const said = `${result.stderr}${result.stdout}`;
  if (result.exitCode === 0 && !ROUTE_GONE.test(said) && !ROUTE_EXISTS.test(said)) return true;
  if (args.includes('delete') && ROUTE_GONE.test(said)) return false;
  if (args.includes('add') && ROUTE_EXISTS.test(said)) return false;
  if (result.exitCode === 0) return true;
  throw toolFailure(ROUTE, args, result);
}

function noTables(table: string | undefined): void {
  if (table !== undefined)
    throw new PhantomError(
      'NOT_SUPPORTED',
      `Table = ${table}: macOS has one routing table (use Table = auto or off)`,
    );
}

export async function addAddress(ifname: string, prefix: IpPrefix): Promise<void> {
  const utun = realInterfaceName(ifname);
  await runChecked(IFCONFIG, addressArgs(utun, prefix));
  // Linux routes an address's subnet to its link by itself; a point-to-point utun does not.
  const full = prefix.family === 4 ? 32 : 128;
  if (prefix.bits < full) await runRoute(routeArgs('add', prefix, { interface: utun }));
}

export async function setLinkUp(ifname: string, mtu: number): Promise<void> {
  await runChecked(IFCONFIG, [realInterfaceName(ifname), 'mtu', String(mtu), 'up']);
}

export async function addRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void> {
  noTables(table);
  await runRoute(routeArgs('add', prefix, { interface: realInterfaceName(ifname) }));
}

export async function deleteRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void> {
  noTables(table);
  await runRoute(routeArgs('delete', prefix, { interface: realInterfaceName(ifname) }));
}

export async function linkExists(ifname: string): Promise<boolean> {
  const result = await runTool(IFCONFIG, [realInterfaceName(ifname)]);
  if (result.exitCode === 0) return true;
  if (/does not exist/.test(result.stderr)) return false;
  throw toolFailure(IFCONFIG, [realInterfaceName(ifname)], result);
}

/** A utun goes when the process that made it closes it; another interface (a cloned one) is destroyed. */
export async function deleteLink(ifname: string): Promise<void> {
  const utun = realInterfaceName(ifname);
  if (!(await linkExists(ifname))) return;
  if (/^utun\d+$/.test(utun))
    throw new PhantomError(
      'NET_CONFIG_FAILED',
      `${utun} belongs to the process that opened it: it goes when that process closes it`,
    );
  await runChecked(IFCONFIG, [utun, 'destroy']);
}

/** The canonical text of an address, or null. */
export function canonicalIp(text: string): string | null {
  const bytes = parseIp(text);
  return bytes ? formatIp(bytes) : null;
}

export function familyOfText(text: string): Family | null {
  const bytes = parseIp(text.split('%')[0]!);
  return bytes ? (bytes.length === 4 ? 4 : 6) : null;
}
