// A tunnel's transport in the renderer: the form's checks (the relay and proxy URLs as the helper
// will parse them, which certificate files go together), the IPC request it becomes, and how the
// transport and what carries a tunnel now read. Pure (no DOM), unit-tested in
// test/unit/renderer-transport.test.ts. The helper checks everything again; these checks exist so
// that people see a precise message beside the field before anything is sent.

import type { CarriedBy, PublicTransport, TransportKeep } from '../../../../shared/src/control/protocol.ts';
import type { TransportFileKind, TransportRequest } from '../../../../shared/src/ipc/schema.ts';
import { checkRelayUrl, type RelayUrlProblem } from '../../../../shared/src/relay-url.ts';
import { strings } from '../strings.ts';

const t = strings.transport;

/** A file the main process read for us: its token and name; the contents stay there. */
export interface PickedFile {
  token: string;
  fileName: string;
}

export interface TransportForm {
  kind: 'udp' | 'relay';
  url: string;
  fallback: boolean;
  proxy: string;
  files: Record<TransportFileKind, PickedFile | null>;
  /** Keep the stored certificate, key, CA and proxy that the form does not give again. */
  keepStored: boolean;
}

export type TransportField = 'url' | 'proxy' | TransportFileKind;
export type TransportProblems = Partial<Record<TransportField, string>>;

export const noFiles: TransportForm['files'] = { clientCert: null, clientKey: null, ca: null };

/** The longest proxy URL the helper keeps (ProxyUrl in the control protocol). */
const MAX_PROXY_URL = 2048;

/** The form opened on what the helper has now. Files and a proxy password are never shown back. */
export function formFrom(current: PublicTransport | undefined): TransportForm {
  if (!current || current.kind === 'udp')
    return { kind: 'udp', url: '', fallback: false, proxy: '', files: noFiles, keepStored: true };
  return {
    kind: 'relay',
    url: current.url,
    fallback: current.fallback,
    // A redacted proxy (http://***@host:port) is not a value to send back: it must be typed again.
    proxy: current.proxy && !current.proxy.includes('***@') ? current.proxy : '',
    files: noFiles,
    keepStored: true,
  };
}

export function isWss(url: string): boolean {
  return /^wss:\/\//i.test(url.trim());
}

/** Why `text` is not a relay URL the helper accepts, or null when it is one. */
export function relayUrlProblem(text: string): string | null {
  // The form trims what it sends (transportRequest), so it checks the trimmed text.
  const url = text.trim();
  if (url === '') return t.errors.urlEmpty;
  const checked = checkRelayUrl(url);
  return checked.ok ? null : relayUrlMessage(checked.problem);
}

/** A refused relay URL's reason, for people: the helper's rules (shared/src/relay-url.ts), our words. */
function relayUrlMessage(problem: RelayUrlProblem): string {
  switch (problem.kind) {
    case 'tooLong':
      return t.errors.tooLong(problem.max);
    case 'shape':
      return t.errors.urlShape;
    case 'scheme':
      return t.errors.urlScheme(problem.scheme);
    case 'queryOrFragment':
      return t.errors.queryOrFragment;
    case 'whiteSpace':
      return t.errors.whiteSpace;
    case 'credentials':
      return t.errors.urlCredentials;
    case 'unterminatedIpv6':
      return t.errors.ipv6Brackets;
    case 'afterAddress':
      return t.errors.afterAddress(problem.after);
    case 'notIpv6':
      return t.errors.notIpv6(problem.address);
    case 'ipv6NeedsBrackets':
      return t.errors.ipv6NeedsBrackets;
    case 'noHost':
      return t.errors.noHost;
    case 'host':
      return t.errors.badHost(problem.host);
    case 'port':
      return t.errors.port(problem.port);
    case 'needsPort':
      // Only tcp:// has no default port (ws:// has 80, wss:// 443).
      return t.errors.tcpPort;
    case 'tcpPath':
      return t.errors.tcpPath;
    case 'pathTooLong':
      return t.errors.pathTooLong(problem.max);
    case 'pathCharacters':
      return t.errors.pathCharacters;
  }
}

/** Why `text` is not an HTTP CONNECT proxy the helper accepts, or null (an empty one is none). */
export function proxyUrlProblem(text: string): string | null {
  const proxy = text.trim();
  if (proxy === '') return null;
  if (proxy.length > MAX_PROXY_URL) return t.errors.tooLong(MAX_PROXY_URL);
  if (/\s/.test(proxy)) return t.errors.whiteSpace;
  if (!/^http:\/\//i.test(proxy))
    return /^https:\/\//i.test(proxy) ? t.errors.proxyHttps : t.errors.proxyShape;
  let url: URL;
  try {
    url = new URL(proxy);
  } catch {
    return t.errors.proxyShape;
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '')
    return t.errors.proxyPath;
  if (url.hostname === '') return t.errors.noHost;
  // What the helper showed us in place of the credentials: sending it back would set "***" as them.
  if (url.username === '***' || url.username === '%2A%2A%2A') return t.errors.proxyRedacted;
  try {
    if (decodeURIComponent(url.username).includes(':')) return t.errors.proxyUserColon;
  } catch {
    return t.errors.proxyEscape;
  }
  return null;
}

/** Every problem of the form, by field; empty when it may be sent. */
export function transportProblems(form: TransportForm): TransportProblems {
  if (form.kind === 'udp') return {};
  const problems: TransportProblems = {};
  const url = relayUrlProblem(form.url);
  if (url) problems.url = url;
  const proxy = proxyUrlProblem(form.proxy);
  if (proxy) problems.proxy = proxy;
  // Certificates are offered for wss:// only (transportRequest drops them otherwise).
  if (isWss(form.url)) {
    const { clientCert, clientKey } = form.files;
    if (clientCert && !clientKey) problems.clientKey = t.errors.keyMissing;
    if (clientKey && !clientCert) problems.clientCert = t.errors.certMissing;
  }
  return problems;
}

/** The IPC request for a checked form: tokens for the files, the URLs trimmed. */
export function transportRequest(name: string, form: TransportForm): TransportRequest {
  if (form.kind === 'udp') return { name, kind: 'udp' };
  const proxy = form.proxy.trim();
  const { clientCert, clientKey, ca } = isWss(form.url) ? form.files : noFiles;
  return {
    name,
    kind: 'relay',
    url: form.url.trim(),
    ...(form.fallback ? { fallback: true } : {}),
    ...(proxy !== '' ? { proxy } : {}),
    ...(clientCert ? { clientCertToken: clientCert.token } : {}),
    ...(clientKey ? { clientKeyToken: clientKey.token } : {}),
    ...(ca ? { caToken: ca.token } : {}),
    ...(form.keepStored ? keepFor(clientCert !== null, ca !== null, proxy !== '') : {}),
  };
}

/** What the helper should keep of the stored transport: what the form gives no new value for. */
function keepFor(newCertificate: boolean, newCa: boolean, newProxy: boolean): { keep?: TransportKeep } {
  const keep = [
    ...(newCertificate ? [] : (['clientCertificate'] as const)),
    ...(newCa ? [] : (['ca'] as const)),
    ...(newProxy ? [] : (['proxy'] as const)),
  ];
  return keep.length > 0 ? { keep } : {};
}

/** The stored transport in a few words: "UDP" or "Relay wss://… (UDP first)". */
export function transportSummary(transport: PublicTransport): string {
  if (transport.kind === 'udp') return t.udpSummary;
  return transport.fallback ? t.relayFallbackSummary(transport.url) : t.relaySummary(transport.url);
}

/** What carries a tunnel now: "UDP" or "via relay wss://…". */
export function carriedText(carried: CarriedBy): string {
  if (carried.kind === 'udp') return t.viaUdp;
  return carried.url ? t.viaRelay(carried.url) : t.viaRelayUnnamed;
}
