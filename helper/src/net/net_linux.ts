// Linux network configuration through the tools wg-quick uses: iproute2's `ip` for addresses, routes
// and policy rules, `nft` for firewall tables, /proc/sys for sysctls, and systemd-resolved's
// `resolvectl` or `resolvconf` for DNS. Arguments go to execFile as an array, never through a shell,
// so an interface name cannot inject anything.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatPrefix, maskedPrefix, type Family, type IpPrefix } from '../../../shared/src/ip.ts';

// The helper runs as root, so fixed locations are safer than whatever PATH it was started with.
const IP_LOCATIONS = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];
const NFT_LOCATIONS = ['/usr/sbin/nft', '/sbin/nft'];
const RESOLVECTL_LOCATIONS = ['/usr/bin/resolvectl', '/bin/resolvectl'];
const RESOLVCONF_LOCATIONS = ['/usr/sbin/resolvconf', '/sbin/resolvconf'];

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

// Not cached: a package may be installed or removed while the helper runs.
function findTool(locations: readonly string[], code: string, what: string): string {
  const path = locations.find((candidate) => existsSync(candidate));
  if (!path) throw new PhantomError(code, `${what} is not installed (looked in ${locations.join(', ')})`);
  return path;
}

interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function runTool(path: string, args: string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(path, args, { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) => {
      if (!error) return resolve({ exitCode: 0, stdout, stderr });
      if (typeof error.code === 'number') return resolve({ exitCode: error.code, stdout, stderr });
      reject(new PhantomError('NET_CONFIG_FAILED', `${basename(path)} ${args.join(' ')}: ${error.message}`));
    });
    // A tool may exit without reading its input; its exit status reports that, not EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

function failure(path: string, args: string[], result: ToolResult): PhantomError {
  const said = result.stderr.trim() || result.stdout.trim() || `exit code ${result.exitCode}`;
  return new PhantomError('NET_CONFIG_FAILED', `${basename(path)} ${args.join(' ')} failed: ${said}`);
}

async function runChecked(path: string, args: string[], input?: string): Promise<void> {
  const result = await runTool(path, args, input);
  if (result.exitCode !== 0) throw failure(path, args, result);
}

// How the tools say that what is to be deleted is not there: a route (ESRCH), a rule or an nft table
// (ENOENT), or the device it was on.
const ALREADY_GONE = /No such process|No such file or directory|No such device|Cannot find device/;

/** Runs a deletion: true when it removed something, false when that was already gone. */
async function runDeletion(path: string, args: string[]): Promise<boolean> {
  const result = await runTool(path, args);
  if (result.exitCode === 0) return true;
  if (ALREADY_GONE.test(result.stderr)) return false;
  throw failure(path, args, result);
}

function run(args: string[]): Promise<ToolResult> {
  return runTool(findIp(), args);
}

function ip(args: string[]): Promise<void> {
  return runChecked(findIp(), args);
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

/** Like deleteRoute, but false instead of an error when the route or its interface is already gone. */
export function deleteRouteIfPresent(ifname: string, prefix: IpPrefix, table?: string): Promise<boolean> {
  return runDeletion(findIp(), routeArgs('del', ifname, prefix, table));
}

/** Whether routing table `table` holds any route, IPv4 or IPv6: wg-quick's test for a free table. */
export async function routingTableInUse(table: number): Promise<boolean> {
  for (const flag of ['-4', '-6']) {
    // As wg-quick, an error (IPv6 disabled, say) counts as an empty table.
    const { exitCode, stdout } = await run([flag, 'route', 'show', 'table', String(table)]);
    if (exitCode === 0 && stdout.trim() !== '') return true;
  }
  return false;
}

/** `ip -j ARGS`, parsed: what the kernel has (addresses, routes), for the caller to check. */
export async function ipJson(args: string[]): Promise<unknown> {
  const result = await run(['-j', ...args]);
  if (result.exitCode !== 0) throw failure(findIp(), ['-j', ...args], result);
  try {
    return JSON.parse(result.stdout || '[]');
  } catch {
    throw new PhantomError('NET_CONFIG_FAILED', `ip -j ${args.join(' ')} printed no JSON`);
  }
}

/** Adds a policy routing rule; `selector` is in `ip rule`'s words: `not fwmark 51820 table 51820`. */
export function addRule(family: Family, selector: readonly string[]): Promise<void> {
  return ip([family === 4 ? '-4' : '-6', 'rule', 'add', ...selector]);
}

/** Deletes the first rule matching `selector`; false when there is none. */
export function deleteRuleIfPresent(family: Family, selector: readonly string[]): Promise<boolean> {
  return runDeletion(findIp(), [family === 4 ? '-4' : '-6', 'rule', 'del', ...selector]);
}

const SYSCTL_KEY = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

function sysctlPath(key: string): string {
  if (!SYSCTL_KEY.test(key)) throw new PhantomError('SYSCTL_INVALID', `"${key}" is not a sysctl key`);
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

/** A sysctl of this process's network namespace, as `sysctl -n` prints it. */
export async function readSysctl(key: string): Promise<string> {
  try {
    return (await readFile(sysctlPath(key), 'utf8')).trim();
  } catch (error) {
    throw new PhantomError('NET_CONFIG_FAILED', `reading sysctl ${key}: ${(error as Error).message}`);
  }
}

export async function writeSysctl(key: string, value: string): Promise<void> {
  try {
    await writeFile(sysctlPath(key), value);
  } catch (error) {
    throw new PhantomError(
      'NET_CONFIG_FAILED',
      `setting sysctl ${key}=${value}: ${(error as Error).message}`,
    );
  }
}

const findNft = (): string => findTool(NFT_LOCATIONS, 'NFTABLES_MISSING', "nftables' nft command");

/** Loads an nft script as one transaction (`nft -f -`): all of it takes effect, or none. */
export function applyNftRuleset(ruleset: string): Promise<void> {
  return runChecked(findNft(), ['-f', '-'], ruleset);
}

/** Deletes an nft table; false when there is none. */
export function deleteNftTableIfPresent(family: 'inet' | 'ip' | 'ip6', name: string): Promise<boolean> {
  return runDeletion(findNft(), ['delete', 'table', family, name]);
}

/** An nft table as `nft list table` prints it (no handles), or null when there is none. */
export async function listNftTable(family: 'inet' | 'ip' | 'ip6', name: string): Promise<string | null> {
  const args = ['list', 'table', family, name];
  const result = await runTool(findNft(), args);
  if (result.exitCode === 0) return result.stdout;
  if (ALREADY_GONE.test(result.stderr)) return null;
  throw failure(findNft(), args, result);
}

/** Where systemd-resolved's resolvectl is, if installed. */
export function resolvectlPath(): string | undefined {
  return RESOLVECTL_LOCATIONS.find((path) => existsSync(path));
}

/** Where resolvconf (Debian's or openresolv) is, if installed. */
export function resolvconfPath(): string | undefined {
  return RESOLVCONF_LOCATIONS.find((path) => existsSync(path));
}

const findResolvectl = (): string =>
  findTool(RESOLVECTL_LOCATIONS, 'RESOLVED_MISSING', "systemd-resolved's resolvectl");
const findResolvconf = (): string => findTool(RESOLVCONF_LOCATIONS, 'RESOLVCONF_MISSING', 'resolvconf');

/** Gives link `ifname` its own DNS servers in systemd-resolved and makes it the route for every name
 *  (`~.`), so queries stop going to the other links' servers. All or nothing. */
export async function setLinkDns(ifname: string, servers: string[], search: string[]): Promise<void> {
  const resolvectl = findResolvectl();
  try {
    await runChecked(resolvectl, ['dns', ifname, ...servers]);
    await runChecked(resolvectl, ['domain', ifname, '~.', ...search]);
    await runChecked(resolvectl, ['default-route', ifname, 'true']);
  } catch (error) {
    await revertLinkDns(ifname).catch(() => {});
    throw error;
  }
}

/** Drops what setLinkDns set; a link that no longer exists has nothing left to drop. */
export async function revertLinkDns(ifname: string): Promise<void> {
  const resolvectl = findResolvectl();
  const args = ['revert', ifname];
  const result = await runTool(resolvectl, args);
  if (result.exitCode !== 0 && (await linkExists(ifname))) throw failure(resolvectl, args, result);
}

/** `resolvconf -a RECORD -m 0 -x` as wg-quick: metric 0 and exclusive, so only these servers are used. */
export function addResolvconfRecord(record: string, resolvConf: string): Promise<void> {
  return runChecked(findResolvconf(), ['-a', record, '-m', '0', '-x'], resolvConf);
}

/** `resolvconf -d RECORD -f`: -f makes a missing record no error. */
export function deleteResolvconfRecord(record: string): Promise<void> {
  return runChecked(findResolvconf(), ['-d', record, '-f']);
}
