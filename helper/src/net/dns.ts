// The tunnel's DNS servers and search domains as the system's resolver, until restored. One
// implementation per OS: dns_linux.ts.

import { forPlatform } from '../for-platform.ts';
import { dnsDarwin as darwin } from './dns_darwin.ts';
import * as linux from './dns_linux.ts';
import * as win32 from './dns_windows.ts';
import type { NetworkJournal } from './network-journal.ts';

export interface DnsSettings {
  servers: string[];
  search: string[];
}

const dns = () => forPlatform('Setting DNS', { linux, darwin, win32 });

/** Makes the tunnel's servers the system's DNS, with its search domains, through the journal. As
 *  wg-quick, search domains without servers change nothing; applying again replaces the settings. */
export function applyDns(journal: NetworkJournal, ifname: string, settings: DnsSettings): Promise<void> {
  return dns().applyDns(journal, ifname, settings);
}

/** Gives the system its DNS back; nothing applied is no error. */
export function restoreDns(journal: NetworkJournal, ifname: string): Promise<void> {
  return dns().restoreDns(journal, ifname);
}
