// How each stored tunnel's datagrams travel (UDP, or a relay over TCP/WebSocket), kept beside its
// wg-quick file as NAME.transport.json, root's and 0600 (it may hold a client key). The wg-quick file
// itself stays stock, so an exported tunnel still works with wg-quick against the server directly.
// Absent file: UDP. Everything is checked when set and again when read back.

// node:crypto is taken (process.getBuiltinModule) when a certificate is checked, not at start-up: the
// idle service does not load it (docs/performance.md).
import type { X509Certificate } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../shared/src/atomic-file.ts';
import {
  TransportSetting,
  type PublicTransport,
  type TransportSetting as Setting,
} from '../../../shared/src/control/protocol.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { parseProxyUrl, redactProxyUrl } from '../conn/http-connect.ts';
import { checkRelayUrl } from '../../../shared/src/relay-url.ts';
import { parseRelayUrl } from '../transport/relay-url.ts';
import { checkTunnelName } from './tunnel-store.ts';

const SUFFIX = '.transport.json';
const FILE_MODE = 0o600;
const UDP: Setting = { kind: 'udp' };

const invalid = (message: string) => new PhantomError('TRANSPORT_INVALID', message);

/**
 * Checks a transport a client asked for beyond its schema: the URL and proxy parse, the certificate
 * and key are what they claim and belong together, a client key comes with its certificate.
 */
export function checkTransport(setting: Setting): Setting {
  if (setting.kind === 'udp') return setting;
  const { scheme } = parseRelayUrl(setting.url);
  if (setting.proxy !== undefined) parseProxyUrl(setting.proxy);
  if ((setting.clientCert === undefined) !== (setting.clientKey === undefined))
    throw invalid(
      'a client certificate needs its key, and a key its certificate (--client-cert with --client-key)',
    );
  if (scheme !== 'wss' && (setting.clientCert || setting.ca))
    throw invalid('client certificates and a CA are for wss:// relays (TLS); this relay URL is not wss://');
  if (setting.clientCert !== undefined && setting.clientKey !== undefined) {
    const certificate = certificateOf(setting.clientCert, 'client certificate');
    let key;
    try {
      key = process.getBuiltinModule('node:crypto').createPrivateKey(setting.clientKey);
    } catch (error) {
      throw invalid(`the client key is not a private key in PEM: ${(error as Error).message}`);
    }
    if (!certificate.checkPrivateKey(key))
      throw invalid('the client key does not belong to the client certificate');
  }
  if (setting.ca !== undefined) certificateOf(setting.ca, 'CA certificate');
  return setting;
}

function certificateOf(pem: string, what: string): X509Certificate {
  try {
    return new (process.getBuiltinModule('node:crypto').X509Certificate)(pem);
  } catch (error) {
    throw invalid(`the ${what} is not an X.509 certificate in PEM: ${(error as Error).message}`);
  }
}

/**
 * `setting` with what its `keep` names taken from `stored` where `setting` gives none (the stored
 * certificate and key and the CA for a wss:// relay, the proxy for any), and without `keep` itself:
 * what is then checked and stored.
 */
export function withKept(setting: Setting, stored: Setting): Setting {
  if (setting.kind === 'udp') return setting;
  const { keep: asked = [], ...given } = setting;
  const old = stored.kind === 'relay' ? stored : null;
  // Certificates belong to TLS: a relay that is not wss:// keeps none.
  const checked = checkRelayUrl(given.url);
  const tls = checked.ok && checked.url.scheme === 'wss';
  const keep = tls ? asked : asked.filter((item) => item === 'proxy');
  return {
    ...given,
    ...(keep.includes('clientCertificate') && given.clientCert === undefined && old?.clientCert !== undefined
      ? { clientCert: old.clientCert, ...(old.clientKey !== undefined ? { clientKey: old.clientKey } : {}) }
      : {}),
    ...(keep.includes('ca') && given.ca === undefined && old?.ca !== undefined ? { ca: old.ca } : {}),
    ...(keep.includes('proxy') && given.proxy === undefined && old?.proxy !== undefined
      ? { proxy: old.proxy }
      : {}),
  };
}

/** What a client may see: no key, no proxy password. */
export function publicTransport(setting: Setting): PublicTransport {
  if (setting.kind === 'udp') return { kind: 'udp' };
  // Without the password: a group member sees that there is one, not what it is.
  const proxy = setting.proxy !== undefined ? redactProxyUrl(setting.proxy) : undefined;
  return {
    kind: 'relay',
    url: setting.url,
    fallback: setting.fallback ?? false,
    ...(proxy !== undefined ? { proxy } : {}),
    ...(setting.clientCert !== undefined
      ? {
          clientCertificate: certificateOf(setting.clientCert, 'client certificate').subject.replace(
            /\n/g,
            ', ',
          ),
        }
      : {}),
    ...(setting.ca !== undefined
      ? { ca: certificateOf(setting.ca, 'CA certificate').subject.replace(/\n/g, ', ') }
      : {}),
  };
}

export class TransportStore {
  readonly dir: string;
  readonly #owner: { uid: number; gid: number };

  /** `dir` is the tunnel store's directory (TunnelStore checked and narrowed it). */
  constructor(dir: string) {
    this.dir = dir;
    const uid = process.geteuid?.() ?? 0;
    this.#owner = { uid, gid: uid === 0 ? 0 : (process.getegid?.() ?? 0) };
  }

  #path(name: string): string {
    checkTunnelName(name);
    return join(this.dir, name + SUFFIX);
  }

  /** The tunnel's transport; UDP when none was set. A stored file that no longer checks is an error. */
  async get(name: string): Promise<Setting> {
    let file;
    try {
      file = await open(this.#path(name), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return UDP;
      throw error;
    }
    let text: string;
    try {
      text = await file.readFile('utf8');
    } finally {
      await file.close();
    }
    try {
      const parsed = TransportSetting.safeParse(JSON.parse(text));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new Error(`${issue.path.join('.') || 'transport'}: ${issue.message}`);
      }
      return checkTransport(parsed.data);
    } catch (error) {
      throw new PhantomError(
        'TRANSPORT_INVALID',
        `the stored transport of ${name} is not usable (${(error as Error).message.slice(0, 300)}); set it again with "phantommesh transport ${name} ..."`,
      );
    }
  }

  /** Stores `setting` (checked); UDP removes the file, so a tunnel without one is plain WireGuard. */
  async set(name: string, asked: Setting): Promise<void> {
    const setting = withKept(asked, UDP); // `keep` is a request's word, never stored
    checkTransport(setting);
    if (setting.kind === 'udp') return this.delete(name);
    await writeFileAtomic(this.#path(name), JSON.stringify(setting), { mode: FILE_MODE, ...this.#owner });
  }

  async delete(name: string): Promise<void> {
    await unlink(this.#path(name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** Moves a tunnel's transport with it (called after the tunnel itself was renamed). */
  async rename(from: string, to: string): Promise<void> {
    const setting = await this.get(from).catch(() => UDP);
    await this.set(to, setting);
    await this.delete(from);
  }
}
