// The tunnel's DNS servers on macOS, through the SystemConfiguration dynamic store with scutil(8),
// the way Mullvad's talpid-core does it: every network service's DNS entry (State:/Network/Service/
// ID/DNS, what DHCP or the RA gave, and Setup:/Network/Service/ID/DNS, what the user typed) gets the
// tunnel's ServerAddresses and SearchDomains, so whichever service is primary, configd's resolver
// configuration names the tunnel's servers. What each key had before is kept in the journal and put
// back on disconnect, or by the next start after a crash; a key the system has rewritten since
// (a DHCP renewal, a reboot) is left as the system wrote it. While a tunnel is up its settings are
// checked every few seconds and applied again to a service that got new servers or appeared.
// The scutil scripts and the parsing of its output are pure and unit-tested on Linux.

import { z } from '../../../shared/src/zod.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { formatIp, parseIp } from '../../../shared/src/ip.ts';
import { runChecked, SCUTIL } from '../routes_darwin.ts';
import type { DnsSettings } from './dns.ts';
import type { DarwinJournal } from './network-changes_darwin.ts';
import type { NetworkJournal } from './network-journal.ts';

/** The seam's journal as what it is on macOS (see network-changes_darwin.ts). */
const darwin = (journal: NetworkJournal) => journal as unknown as DarwinJournal;

const DOMAIN = /^[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_-]+)*\.?$/;
const KEEP_MS = 5000;
export const SERVICE_DNS_KEY = /^(State|Setup):\/Network\/Service\/[A-Za-z0-9_.-]+\/DNS$/;
/** A value scutil's d.add takes as one word. */
const WORD = /^[^\s"'\\]+$/;

const word = z.string().check(z.regex(WORD));
/** What one service key had before: null for a value it did not have. */
export const dnsOriginalSchema = z.object({
  key: z.string().check(z.regex(SERVICE_DNS_KEY)),
  serverAddresses: z.nullable(z.array(word)),
  searchDomains: z.nullable(z.array(word)),
});
export type DnsOriginal = z.infer<typeof dnsOriginalSchema>;

export interface DnsValues {
  serverAddresses: string[] | null;
  searchDomains: string[] | null;
}

// ---------------------------------------------------------------------------------------------
// scutil's output.

type ScutilValue = string | ScutilValue[] | { [key: string]: ScutilValue };

/**
 * The answers of a script of `show KEY` commands, in order: each a dictionary, or null for
 * "No such key". scutil prints `<dictionary> {`, `KEY : VALUE`, `KEY : <array> {`, `0 : VALUE`, `}`.
 */
export function parseScutilShows(text: string): (Record<string, ScutilValue> | null)[] {
  const answers: (Record<string, ScutilValue> | null)[] = [];
  const stack: { container: Record<string, ScutilValue> | ScutilValue[] }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (stack.length === 0) {
      if (/No such key/.test(line)) answers.push(null);
      else if (line === '<dictionary> {') {
        const top: Record<string, ScutilValue> = {};
        answers.push(top);
        stack.push({ container: top });
      }
      continue;
    }
    if (line === '}') {
      stack.pop();
      continue;
    }
    const match = /^(.+?) : (.*)$/.exec(line);
    if (!match) continue;
    const [, key, rest] = match as unknown as [string, string, string];
    const open = /^<(dictionary|array)> \{$/.exec(rest);
    const value: ScutilValue = open ? (open[1] === 'array' ? [] : {}) : rest;
    const current = stack.at(-1)!.container;
    if (Array.isArray(current)) current.push(value);
    else current[key] = value;
    if (open) stack.push({ container: value as Record<string, ScutilValue> | ScutilValue[] });
  }
  return answers;
}

/** The keys `list PATTERN` printed ("  subKey [0] = State:/Network/Service/ID/DNS"). */
export function parseScutilList(text: string): string[] {
  return [...text.matchAll(/subKey \[\d+\] = (\S+)/g)]
    .map((match) => match[1]!)
    .filter((key) => SERVICE_DNS_KEY.test(key));
}

const strings = (value: ScutilValue | undefined): string[] | null =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : null;

/** ServerAddresses and SearchDomains of a DNS dictionary. */
export function dnsValuesOf(dictionary: Record<string, ScutilValue>): DnsValues {
  return {
    serverAddresses: strings(dictionary.ServerAddresses),
    searchDomains: strings(dictionary.SearchDomains),
  };
}

// ---------------------------------------------------------------------------------------------
// Plans.

const same = (a: readonly string[] | null, b: readonly string[] | null): boolean =>
  a === null || b === null ? a === b : a.length === b.length && a.every((item, i) => item === b[i]);

/** Whether a key shows exactly what we set. */
export function isOurs(values: DnsValues, settings: DnsSettings): boolean {
  return (
    same(values.serverAddresses, settings.servers) &&
    (settings.search.length === 0 || same(values.searchDomains, settings.search))
  );
}

/**
 * What each key had before any tunnel changed it, given what the journal already has (`previous`,
 * the oldest tunnel's record) and what the keys show now: a key that shows our servers keeps its
 * recorded original; one that shows anything else was (re)written by the system, and that is its
 * original now. A key that is gone is forgotten; one with values scutil could not take back as words
 * is left alone.
 */
export function mergeOriginals(
  previous: readonly DnsOriginal[],
  current: readonly { key: string; values: DnsValues }[],
  settings: DnsSettings,
): DnsOriginal[] {
  const originals: DnsOriginal[] = [];
  for (const { key, values } of current) {
    const recorded = previous.find((original) => original.key === key);
    if (isOurs(values, settings)) {
      if (recorded) originals.push(recorded);
      continue;
    }
    const candidate = { key, ...values };
    if (dnsOriginalSchema.safeParse(candidate).success) originals.push(candidate);
  }
  return originals;
}

const setValue = (name: string, values: readonly string[] | null): string =>
  values === null || values.length === 0 ? `d.remove ${name}` : `d.add ${name} * ${values.join(' ')}`;

/** The scutil script that gives `keys` the tunnel's settings (each read, changed and written back,
 *  so its other entries stay). */
export function applyScript(keys: readonly string[], settings: DnsSettings): string {
  const lines: string[] = [];
  for (const key of keys) {
    lines.push(`get ${key}`, setValue('ServerAddresses', settings.servers));
    if (settings.search.length > 0) lines.push(setValue('SearchDomains', settings.search));
    lines.push(`set ${key}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The scutil script that undoes a tunnel's DNS: each key still showing `ours` gets `fallback` (the
 * settings of a tunnel that stays up) or its original values back; a key the system rewrote, or that
 * is gone, is left alone.
 */
export function restoreScript(
  originals: readonly DnsOriginal[],
  current: ReadonlyMap<string, DnsValues>,
  ours: DnsSettings,
  fallback?: DnsSettings,
): string {
  const lines: string[] = [];
  for (const original of originals) {
    const now = current.get(original.key);
    if (!now || !isOurs(now, ours)) continue;
    lines.push(`get ${original.key}`);
    if (fallback) {
      lines.push(setValue('ServerAddresses', fallback.servers));
      lines.push(
        setValue('SearchDomains', fallback.search.length > 0 ? fallback.search : original.searchDomains),
      );
    } else {
      lines.push(setValue('ServerAddresses', original.serverAddresses));
      if (ours.search.length > 0) lines.push(setValue('SearchDomains', original.searchDomains));
    }
    lines.push(`set ${original.key}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// The store.

/** Every service's DNS key (State: and Setup:) with what it shows now. */
export async function readServiceDns(): Promise<{ key: string; values: DnsValues }[]> {
  const listed = await runChecked(
    SCUTIL,
    [],
    'list State:/Network/Service/[^/]+/DNS\nlist Setup:/Network/Service/[^/]+/DNS\n',
  );
  const keys = [...new Set(parseScutilList(listed))];
  if (keys.length === 0) return [];
  const shown = parseScutilShows(await runChecked(SCUTIL, [], keys.map((key) => `show ${key}\n`).join('')));
  return keys.flatMap((key, i) => {
    const dictionary = shown[i];
    return dictionary ? [{ key, values: dnsValuesOf(dictionary) }] : [];
  });
}

export async function runScutil(script: string): Promise<void> {
  if (script === '') return;
  const output = await runChecked(SCUTIL, [], script);
  // scutil exits 0 whatever a command said; its complaints are the only sign.
  if (/No such key|Permission denied|not permitted|failed/i.test(output))
    throw new PhantomError('NET_CONFIG_FAILED', `scutil: ${output.trim()}`);
}

// ---------------------------------------------------------------------------------------------
// The seam's operations.

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

const keepers = new Map<string, NodeJS.Timeout>();

function keep(journal: NetworkJournal, ifname: string, settings: DnsSettings): void {
  clearInterval(keepers.get(ifname));
  const timer = setInterval(() => {
    void readServiceDns()
      .then(async (current) => {
        if (!keepers.has(ifname) || current.every(({ values }) => isOurs(values, settings))) return;
        // A renewal or a new service: its servers become its original, ours go on it again.
        await darwin(journal).apply({ kind: 'scutil-dns', ifname, ...settings });
      })
      .catch((error: Error) => console.error(`${ifname}: keeping DNS: ${error.message}`));
  }, KEEP_MS);
  timer.unref();
  keepers.set(ifname, timer);
}

/** Makes the tunnel's servers (and search domains) every service's DNS, through the journal. As
 *  wg-quick, search domains without servers change nothing. */
export async function applyDns(journal: NetworkJournal, ifname: string, dns: DnsSettings): Promise<void> {
  const settings = checked(dns);
  if (settings.servers.length === 0) return;
  await darwin(journal).apply({ kind: 'scutil-dns', ifname, ...settings });
  keep(journal, ifname, settings);
}

export function restoreDns(journal: NetworkJournal, ifname: string): Promise<void> {
  clearInterval(keepers.get(ifname));
  keepers.delete(ifname);
  return darwin(journal).undo((change) => change.kind === 'scutil-dns' && change.ifname === ifname);
}

/** What the seam (dns.ts) takes from this file. */
export const dnsDarwin = { applyDns, restoreDns };
