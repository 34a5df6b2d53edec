// Linux network configuration through iproute2's `ip`, the commands wg-quick runs. Arguments go to
// execFile as an array, never through a shell, so an interface name cannot inject anything.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatPrefix, maskedPrefix, type IpPrefix } from '../../../shared/src/ip.ts';

// The helper runs as root, so a fixed location is safer than whatever PATH it was started with.
const IP_LOCATIONS = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];

let ipPath: string | undefined;

function findIp(): string {
  ipPath ??= IP_LOCATIONS.find((path) => existsSync(path));
  if (!ipPath)
    throw new PhantomError(
      'IPROUTE2_MISSING',
      `iproute2's ip command is not installed (looked in ${IP_LOCATIONS.join(', ')})`,
    );
  return ipPath;
}

interface IpResult {
  exitCode: number;
  stderr: string;
}

function run(args: string[]): Promise<IpResult> {
  const path = findIp();
  return new Promise((resolve, reject) => {
    execFile(path, args, { encoding: 'utf8', timeout: 10_000 }, (error, _stdout, stderr) => {
      if (!error) return resolve({ exitCode: 0, stderr });
      if (typeof error.code === 'number') return resolve({ exitCode: error.code, stderr });
      reject(new PhantomError('NET_CONFIG_FAILED', `ip ${args.join(' ')}: ${error.message}`));
    });
  });
}

async function ip(args: string[]): Promise<void> {
  const { exitCode, stderr } = await run(args);
  if (exitCode !== 0)
    throw new PhantomError(
      'NET_CONFIG_FAILED',
      `ip ${args.join(' ')} failed: ${stderr.trim() || `exit code ${exitCode}`}`,
    );
}

function familyFlag(prefix: IpPrefix): string {
  return prefix.family === 4 ? '-4' : '-6';
}

/** Adds an address with its prefix length (host bits kept, as wg-quick's `Address = 10.0.0.2/24`). */
export function addAddress(ifname: string, prefix: IpPrefix): Promise<void> {
  return ip([familyFlag(prefix), 'address', 'add', formatPrefix(prefix), 'dev', ifname]);
}

export function setLinkUp(ifname: string, mtu: number): Promise<void> {
  return ip(['link', 'set', 'dev', ifname, 'mtu', String(mtu), 'up']);
}

// Routes name networks: `ip route` rejects a prefix with host bits set, and an AllowedIPs entry may have them.
function routeArgs(
  verb: 'add' | 'del',
  ifname: string,
  prefix: IpPrefix,
  table: string | undefined,
): string[] {
  const args = [familyFlag(prefix), 'route', verb, formatPrefix(maskedPrefix(prefix)), 'dev', ifname];
  if (table !== undefined) args.push('table', table);
  return args;
}

/** Routes `prefix` to the interface, in the main table unless `table` (a number or a name) is given. */
export function addRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void> {
  return ip(routeArgs('add', ifname, prefix, table));
}

export function deleteRoute(ifname: string, prefix: IpPrefix, table?: string): Promise<void> {
  return ip(routeArgs('del', ifname, prefix, table));
}

export async function linkExists(ifname: string): Promise<boolean> {
  const { exitCode, stderr } = await run(['link', 'show', 'dev', ifname]);
  if (exitCode === 0) return true;
  if (/does not exist/.test(stderr)) return false;
  throw new PhantomError('NET_CONFIG_FAILED', `ip link show dev ${ifname} failed: ${stderr.trim()}`);
}

export function deleteLink(ifname: string): Promise<void> {
  return ip(['link', 'delete', 'dev', ifname]);
}
