// The tunnel's DNS servers and search domains on Linux, through whatever manages the system's
// resolver: systemd-resolved (per-link DNS for the tunnel, routing every name to it), else
// resolvconf (wg-quick's way), else /etc/resolv.conf itself, whose original is kept byte for byte
// (a symlink stays a symlink) and put back on disconnect or, after a crash, by the journal's recovery.

import { readFile, realpath } from 'node:fs/promises';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatIp, parseIp } from '../../../shared/src/ip.ts';
import type { DnsSettings } from './dns.ts';
import { resolvconfPath, resolvectlPath } from './net_linux.ts';
import type { NetworkChange } from './network-changes_linux.ts';
import type { NetworkJournal } from './network-journal.ts';

export type DnsBackend = 'resolved' | 'resolvconf' | 'resolv.conf';

const RESOLV_CONF = '/etc/resolv.conf';
const DNS_KINDS = new Set<NetworkChange['kind']>(['resolved-link', 'resolvconf', 'file']);
const DOMAIN = /^[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_-]+)*\.?$/;

async function nameservers(): Promise<string[]> {
  try {
    const text = await readFile(RESOLV_CONF, 'utf8');
    return [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((match) => match[1]!);
  } catch {
    return [];
  }
}

/** Whether the system's resolver goes through systemd-resolved: /etc/resolv.conf is one of its files,
 *  or names only its stub listener. resolved running beside a resolv.conf someone else writes is not
 *  enough: glibc would never ask it. */
async function resolvedInUse(): Promise<boolean> {
  if (!resolvectlPath()) return false;
  const target = await realpath(RESOLV_CONF).catch(() => '');
  if (target.startsWith('/run/systemd/resolve/')) return true;
  const servers = await nameservers();
  return servers.length > 0 && servers.every((server) => server === '127.0.0.53');
}

export async function detectDnsBackend(): Promise<DnsBackend> {
  if (await resolvedInUse()) return 'resolved';
  if (resolvconfPath()) return 'resolvconf';
  return 'resolv.conf';
}

/** wg-quick's record name: Debian's resolvconf orders records by /etc/resolvconf/interface-order, whose
 *  first `name*` pattern (`tun*`) gives the prefix (`tun.wg0`); openresolv has no such file. */
async function resolvconfRecord(ifname: string): Promise<string> {
  const order = await readFile('/etc/resolvconf/interface-order', 'utf8').catch(() => '');
  for (const line of order.split('\n')) {
    const pattern = /^([A-Za-z0-9-]+)\*$/.exec(line.trim());
    if (pattern) return `${pattern[1]}.${ifname}`;
  }
  return ifname;
}

function resolvConfText(ifname: string, dns: DnsSettings): string {
  const lines = [`# Written by PhantomMesh for ${ifname}; the previous file comes back when it disconnects.`];
  for (const server of dns.servers) lines.push(`nameserver ${server}`);
  if (dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

function checked(dns: DnsSettings): DnsSettings {
  const servers = dns.servers.map((server) => {
    const bytes = parseIp(server);
    if (!bytes) throw new PhantomError('DNS_INVALID', `DNS server "${server}" is not an IP address`);
    return formatIp(bytes);
  });
  for (const domain of dns.search)
    if (!DOMAIN.test(domain) || domain.length > 253)
      throw new PhantomError('DNS_INVALID', `search domain "${domain}" is not a domain name`);
  return { servers, search: [...dns.search] };
}

/**
 * Makes the tunnel's servers the system's DNS, with its search domains, until restoreDns. As wg-quick,
 * search domains without servers change nothing. Applying again for the same interface replaces its
 * settings. `backend` defaults to detectDnsBackend().
 */
export async function applyDns(
  journal: NetworkJournal,
  ifname: string,
  dns: DnsSettings,
  backend?: DnsBackend,
): Promise<void> {
  const { servers, search } = checked(dns);
  if (servers.length === 0) return;
  switch (backend ?? (await detectDnsBackend())) {
    case 'resolved':
      return journal.apply({ kind: 'resolved-link', ifname, servers, search });
    case 'resolvconf':
      return journal.apply({
        kind: 'resolvconf',
        ifname,
        record: await resolvconfRecord(ifname),
        content: resolvConfText(ifname, { servers, search }),
      });
    case 'resolv.conf':
      return journal.apply({
        kind: 'file',
        ifname,
        path: RESOLV_CONF,
        content: resolvConfText(ifname, { servers, search }),
      });
  }
}

/** Gives the system its DNS back; nothing applied is no error. */
export function restoreDns(journal: NetworkJournal, ifname: string): Promise<void> {
  return journal.undo(
    (change) => DNS_KINDS.has(change.kind) && 'ifname' in change && change.ifname === ifname,
  );
}
