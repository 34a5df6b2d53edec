// The tunnel's DNS on Windows, as wireguard-windows and Mullvad set it: the servers and search list
// on the tunnel's own adapter (SetInterfaceDnsSettings, or the adapter's TCP/IP registry values before
// Windows 10 2004), which Windows prefers by the adapter's low metric; the kill switch blocks DNS to
// anyone else. Journaled; the adapter's settings go with the adapter, and restoring clears them.

import { PhantomError } from '../../../shared/src/errors.ts';
import { parseIp } from '../../../shared/src/ip.ts';
import type { DnsSettings } from './dns.ts';
import { dnsPlan, requireLuid } from './ipconfig_windows.ts';
import { adapterGuidText, type WindowsJournal } from './network-changes_windows.ts';
import type { NetworkJournal } from './network-journal.ts';

const DOMAIN = /^[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_-]+)*\.?$/;

export async function applyDns(
  journal: NetworkJournal,
  ifname: string,
  settings: DnsSettings,
): Promise<void> {
  for (const server of settings.servers)
    if (!parseIp(server))
      throw new PhantomError('DNS_INVALID', `DNS server "${server}" is not an IP address`);
  for (const domain of settings.search)
    if (!DOMAIN.test(domain) || domain.length > 253)
      throw new PhantomError('DNS_INVALID', `search domain "${domain}" is not a domain name`);
  if (settings.servers.length === 0) return;
  const windows = journal as unknown as WindowsJournal;
  const guid = adapterGuidText(requireLuid(ifname));
  for (const family of dnsPlan(settings.servers, settings.search))
    await windows.apply({ kind: 'dns', ifname, guid, ...family });
}

export function restoreDns(journal: NetworkJournal, ifname: string): Promise<void> {
  const windows = journal as unknown as WindowsJournal;
  return windows.undo((change) => change.kind === 'dns' && change.ifname === ifname);
}
