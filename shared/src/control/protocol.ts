// The helper's control API: the one contract the helper, the `phantommesh` CLI and the app's main
// process share. JSON-RPC 2.0 over a Unix socket, one message per frame (framing.ts).
//
// Every method's params and result are zod schemas in `methods`; the helper validates params before a
// handler sees them and results before they leave (which also strips any field the schema does not
// name, so a secret a handler forgets to remove never reaches a client), and the client validates
// results again. Params objects are strict (a misspelt key is an error); results are not, so an older
// client of the same protocol version ignores fields a newer helper adds.
//
// Raise PROTOCOL_VERSION on any change an older peer would misread. `hello` itself must never change:
// it is how two versions find out they differ.

import { describeIssues, z } from '../zod.ts';
import { INTERFACE_NAME_RULE, isInterfaceName } from '../interface-name.ts';
import { MAX_RELAY_URL } from '../relay-url.ts';
import type { TunnelConfig } from '../config/types.ts';

// 2: the lockdown setting, `blocking` in status, the blocking and firewall-restored events.
// 3: per-tunnel transports (tunnels.transport.get/set, `transport` in a tunnel's status).
export const PROTOCOL_VERSION = 3;
export const MAX_FRAME_BYTES = 1024 * 1024;
/** A wg-quick file is a few KiB; this leaves room for thousands of peers and stays well under a frame. */
export const MAX_CONFIG_TEXT = 256 * 1024;

/** wg-quick's rule for interface names (also Linux's, which refuses "." and ".."). */
export const TunnelName = z
  .string()
  .check(z.refine(isInterfaceName, `a tunnel name is ${INTERFACE_NAME_RULE}, and not "." or ".."`));

const ConfigText = z
  .string()
  .check(z.maxLength(MAX_CONFIG_TEXT, `a configuration is at most ${MAX_CONFIG_TEXT} characters`));
const Count = z.int().check(z.nonnegative());
/** Unix time in milliseconds. */
const Time = z.int().check(z.nonnegative());

export const TunnelState = z.enum([
  'disconnected',
  'connecting',
  'connected',
  'reconnecting',
  'disconnecting',
  'error',
]);

export const PeerStatus = z.object({
  publicKey: z.string(),
  endpoint: z.optional(z.string()),
  allowedIps: z.array(z.string()),
  latestHandshake: z.optional(Time),
  rxBytes: Count,
  txBytes: Count,
});

/** What carries a tunnel's datagrams now: UDP, or the relay named by its URL. */
export const CarriedBy = z.object({
  kind: z.enum(['udp', 'relay']),
  /** The relay's URL when kind is relay. */
  url: z.optional(z.string()),
  /** With fallback: why the current one was chosen, for people ("UDP handshakes went unanswered"). */
  reason: z.optional(z.string()),
});

export const TunnelStatus = z.object({
  name: TunnelName,
  state: TunnelState,
  transport: z.optional(CarriedBy),
  /** For people, e.g. "Handshake did not complete: no answer from 192.0.2.2:51820 for 20 s". */
  reason: z.optional(z.string()),
  attempt: z.optional(z.int().check(z.positive())),
  nextRetrySeconds: z.optional(z.number().check(z.nonnegative())),
  /** When the tunnel entered `state`. */
  since: z.optional(Time),
  interfaceAddresses: z.array(z.string()),
  endpoint: z.optional(z.string()),
  latestHandshake: z.optional(Time),
  rxBytes: Count,
  txBytes: Count,
  peers: z.array(PeerStatus),
  /** What the Prometheus endpoint exports, for `phantommesh status --json`. */
  counters: z.optional(
    z.object({
      handshakesCompleted: Count,
      handshakeRetries: Count,
      reconnects: Count,
      /** Packets dropped, by reason (e.g. replayed, decryptFailed, noRoute). */
      dropped: z.record(z.string(), Count),
      /** When the tunnel was brought up. */
      upSince: Time,
    }),
  ),
});

const IpPrefix = z.object({
  address: z.string(),
  bits: z.int().check(z.minimum(0), z.maximum(128)),
  family: z.union([z.literal(4), z.literal(6)]),
});

const HostPort = z.object({ host: z.string(), port: z.int().check(z.minimum(0), z.maximum(65535)) });

/** A wg-quick configuration without its secrets: what a client may see of a tunnel. */
export const PublicTunnelConfig = z.object({
  interface: z.object({
    publicKey: z.string(),
    addresses: z.array(IpPrefix),
    dns: z.array(z.string()),
    dnsSearch: z.array(z.string()),
    mtu: z.optional(z.int()),
    listenPort: z.optional(z.int()),
    table: z.optional(z.string()),
    fwMark: z.optional(z.int()),
    preUp: z.array(z.string()),
    postUp: z.array(z.string()),
    preDown: z.array(z.string()),
    postDown: z.array(z.string()),
    saveConfig: z.boolean(),
  }),
  peers: z.array(
    z.object({
      publicKey: z.string(),
      hasPresharedKey: z.boolean(),
      allowedIps: z.array(IpPrefix),
      endpoint: z.optional(HostPort),
      persistentKeepalive: z.optional(z.int()),
    }),
  ),
});

/** A relay URL as the helper accepts it: tcp://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST[:PORT]/PATH. */
export const RelayUrl = z.string().check(
  z.maxLength(MAX_RELAY_URL),
  z.regex(
    // Schemes are case-insensitive (RFC 3986), as the helper's parser takes them.
    /^(tcp|wss?):\/\/[^\s]+$/i,
    'a relay URL is tcp://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST[:PORT]/PATH',
  ),
);
/** The longest proxy URL the helper keeps. */
const MAX_PROXY_URL = 2048;
/** An HTTP CONNECT proxy: http://[USER:PASSWORD@]HOST:PORT. */
export const ProxyUrl = z
  .string()
  .check(
    z.maxLength(MAX_PROXY_URL),
    z.regex(/^http:\/\/[^\s]+$/, 'a proxy URL is http://[USER:PASSWORD@]HOST:PORT'),
  );
/** The longest PEM file the helper accepts (the app also bounds the bytes it reads by it). */
export const MAX_PEM_TEXT = 64 * 1024;
/** PEM text (a certificate chain or a private key), never a file name: the helper opens no client path. */
export const PemText = z
  .string()
  .check(
    z.maxLength(MAX_PEM_TEXT, 'a PEM file is at most 64 KiB'),
    z.regex(/-----BEGIN [A-Z0-9 ]+-----/, 'not PEM text (-----BEGIN ...-----)'),
  );

/** Which stored parts of a relay setting an edit keeps (TransportSetting's `keep`). */
export const TransportKeep = z.array(z.enum(['clientCertificate', 'ca', 'proxy'])).check(z.maxLength(3));

/** How a tunnel's datagrams travel, as a client sets it: UDP (WireGuard's own), or a relay. */
export const TransportSetting = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('udp') }),
  z.strictObject({
    kind: z.literal('relay'),
    url: RelayUrl,
    /** UDP first; the relay only while UDP handshakes go unanswered (probing UDP again later). */
    fallback: z.optional(z.boolean()),
    proxy: z.optional(ProxyUrl),
    clientCert: z.optional(PemText),
    clientKey: z.optional(PemText),
    ca: z.optional(PemText),
    /**
     * What the tunnel's stored relay setting keeps where this one gives none: the client certificate
     * and key, the CA, the proxy URL with its credentials. Clients never hold those (the helper shows
     * subjects and a redacted proxy), so an edit of the URL or the fallback would otherwise need them
     * picked again. Not stored itself.
     */
    keep: z.optional(TransportKeep),
  }),
]);

/** A tunnel's transport as clients see it: the client key never leaves the helper. */
export const PublicTransport = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('udp') }),
  z.object({
    kind: z.literal('relay'),
    url: z.string(),
    fallback: z.boolean(),
    /** The proxy with its credentials replaced by *** (http://***@host:port). */
    proxy: z.optional(z.string()),
    /** The client certificate's subject, when one is set. */
    clientCertificate: z.optional(z.string()),
    /** The CA's subject, when one replaces the system's. */
    ca: z.optional(z.string()),
  }),
]);

export const TunnelSummary = z.object({
  name: TunnelName,
  publicKey: z.string(),
  addresses: z.array(z.string()),
  endpoints: z.array(z.string()),
  state: TunnelState,
});

export const Settings = z.object({
  /** While a tunnel is wanted (from the user's connect to the user's disconnect) block all else. */
  killSwitch: z.boolean(),
  allowLan: z.boolean(),
  /** Block everything but tunnels even with no tunnel wanted, from early boot, until turned off. */
  lockdown: z.boolean(),
  /** The tunnel to bring up when the helper starts, or null. */
  autoConnect: z.nullable(TunnelName),
  /** A localhost port for Prometheus metrics, or null for none. */
  metricsPort: z.nullable(z.int().check(z.minimum(1024), z.maximum(65535))),
});

export const LogLine = z.object({
  time: Time,
  level: z.enum(['debug', 'info', 'warn', 'error']),
  source: z.string(),
  message: z.string(),
});

/** Traffic outside the tunnels is blocked, and why ("kill switch: connecting office"), or null. */
export const Blocking = z.nullable(z.object({ reason: z.string() }));

/** What the helper pushes to subscribed connections, as the JSON-RPC notification `event`. */
export const HelperEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('tunnel-state'), status: TunnelStatus }),
  z.object({ type: z.literal('stats'), tunnels: z.array(TunnelStatus) }),
  z.object({ type: z.literal('log'), line: LogLine }),
  z.object({ type: z.literal('settings'), settings: Settings }),
  z.object({ type: z.literal('tunnels-changed') }),
  /** Whether traffic outside the tunnels is blocked now, and why (also in the `status` result). */
  z.object({ type: z.literal('blocking'), blocking: Blocking }),
  /** Another program removed or changed the kill switch's firewall rules; the helper put them back. */
  z.object({ type: z.literal('firewall-restored'), reason: z.string() }),
]);

export type TunnelState = z.infer<typeof TunnelState>;
export type PeerStatus = z.infer<typeof PeerStatus>;
export type TunnelStatus = z.infer<typeof TunnelStatus>;
export type PublicTunnelConfig = z.infer<typeof PublicTunnelConfig>;
export type TunnelSummary = z.infer<typeof TunnelSummary>;
export type TransportKeep = z.infer<typeof TransportKeep>;
export type TransportSetting = z.infer<typeof TransportSetting>;
export type PublicTransport = z.infer<typeof PublicTransport>;
export type CarriedBy = z.infer<typeof CarriedBy>;
export type Settings = z.infer<typeof Settings>;
export type LogLine = z.infer<typeof LogLine>;
export type HelperEvent = z.infer<typeof HelperEvent>;
export type Blocking = z.infer<typeof Blocking>;

const Empty = z.strictObject({});
const ByName = z.strictObject({ name: TunnelName });

export const methods = {
  hello: {
    params: z.strictObject({ protocolVersion: Count, client: z.string().check(z.maxLength(200)) }),
    result: z.object({ protocolVersion: Count, helperVersion: z.string() }),
  },
  'tunnels.list': { params: Empty, result: z.array(TunnelSummary) },
  'tunnels.get': {
    params: ByName,
    result: z.object({ config: PublicTunnelConfig, status: TunnelStatus }),
  },
  'tunnels.import': { params: z.strictObject({ name: TunnelName, text: ConfigText }), result: TunnelSummary },
  /** The helper generates the keys. */
  'tunnels.create': { params: ByName, result: TunnelSummary },
  /** `text` may leave out PrivateKey: the stored key is kept. */
  'tunnels.update': { params: z.strictObject({ name: TunnelName, text: ConfigText }), result: TunnelSummary },
  'tunnels.rename': {
    params: z.strictObject({ name: TunnelName, newName: TunnelName }),
    result: TunnelSummary,
  },
  'tunnels.delete': { params: ByName, result: Empty },
  'tunnels.export': {
    params: z.strictObject({ name: TunnelName, includePrivateKey: z.optional(z.boolean()) }),
    result: z.object({ text: z.string() }),
  },
  'tunnels.connect': { params: ByName, result: TunnelStatus },
  'tunnels.transport.get': { params: ByName, result: PublicTransport },
  /** Applies at the next connect (a tunnel that is up reconnects onto it). */
  'tunnels.transport.set': {
    params: z.strictObject({ name: TunnelName, transport: TransportSetting }),
    result: PublicTransport,
  },
  /** Without a name: every tunnel that is up. */
  'tunnels.disconnect': { params: z.strictObject({ name: z.optional(TunnelName) }), result: Empty },
  status: {
    params: Empty,
    result: z.object({ tunnels: z.array(TunnelStatus), settings: Settings, blocking: Blocking }),
  },
  'settings.get': { params: Empty, result: Settings },
  'settings.set': { params: z.strictObject(z.partial(Settings).shape), result: Settings },
  'logs.tail': {
    params: z.strictObject({ lines: z.optional(z.int().check(z.minimum(1), z.maximum(10000))) }),
    result: z.array(LogLine),
  },
  diagnostics: { params: Empty, result: z.object({ text: z.string() }) },
  /** From then on the connection receives every HelperEvent. */
  'events.subscribe': { params: Empty, result: Empty },
} as const;

export type MethodName = keyof typeof methods;
export type Params<M extends MethodName> = z.infer<(typeof methods)[M]['params']>;
export type Result<M extends MethodName> = z.infer<(typeof methods)[M]['result']>;

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(methods, name);
}

/** The JSON-RPC method name of the helper's notifications; their params are a HelperEvent. */
export const EVENT_METHOD = 'event';

// JSON-RPC 2.0 error codes. Every error object also carries `data.code`, a stable string.
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
/** Everything else; `data.code` says what (the codes below, or a PhantomError's code). */
export const APPLICATION_ERROR = -32000;

export const VERSION_MISMATCH = 'VERSION_MISMATCH';
export const NOT_AUTHORIZED = 'NOT_AUTHORIZED';
export const RATE_LIMITED = 'RATE_LIMITED';
export const HELLO_REQUIRED = 'HELLO_REQUIRED';
/** A handler failed in a way it did not describe; the helper logs the details. */
export const INTERNAL = 'INTERNAL';

export const ErrorData = z.object({
  code: z.string(),
  /** A ConfigError's line (1-based) and key, so the app can point at the line. */
  line: z.optional(z.int().check(z.positive())),
  key: z.optional(z.string()),
  /** With VERSION_MISMATCH: the helper's protocol version. */
  protocolVersion: z.optional(Count),
});
export type ErrorData = z.infer<typeof ErrorData>;

const Id = z.union([z.number(), z.string()]);

/**
 * This protocol has no client notifications: every client message is a request with an id. Params
 * may be left out for methods whose params are `{}`.
 */
export const Request = z.object({
  jsonrpc: z.literal('2.0'),
  id: Id,
  method: z.string(),
  params: z.optional(z.unknown()),
});

export const ErrorObject = z.object({ code: z.int(), message: z.string(), data: ErrorData });
export type ErrorObject = z.infer<typeof ErrorObject>;

/**
 * What a client may see of a configuration: the public key instead of the private one, no PSKs. Field
 * by field, so that a secret the config type gains one day stays out until it is named here.
 */
export function toPublicConfig(config: TunnelConfig, publicKey: string): PublicTunnelConfig {
  const iface = config.interface;
  return {
    interface: {
      publicKey,
      addresses: iface.addresses,
      dns: iface.dns,
      dnsSearch: iface.dnsSearch,
      mtu: iface.mtu,
      listenPort: iface.listenPort,
      table: iface.table,
      fwMark: iface.fwMark,
      preUp: iface.preUp,
      postUp: iface.postUp,
      preDown: iface.preDown,
      postDown: iface.postDown,
      saveConfig: iface.saveConfig,
    },
    peers: config.peers.map((peer) => ({
      publicKey: peer.publicKey,
      hasPresharedKey: peer.presharedKey !== undefined,
      allowedIps: peer.allowedIps,
      endpoint: peer.endpoint,
      persistentKeepalive: peer.persistentKeepalive,
    })),
  };
}

/** One line per issue, `path: message`, for error replies (defined beside zod, used here too). */
export { describeIssues };
