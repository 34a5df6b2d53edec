// The app's one IPC contract: what the renderer may ask the main process (invoke) and what the main
// process pushes to it (events). The preload exposes exactly this; the main process validates every
// payload against it; the browser host carries the same messages over a WebSocket. No method ever
// returns a private key: the renderer never sees one.

import { z } from '../zod.ts';
import {
  HelperEvent,
  MAX_CONFIG_TEXT,
  methods,
  ProxyUrl,
  PublicTransport,
  RelayUrl,
  TransportKeep,
  TunnelName,
} from '../control/protocol.ts';

const ConfigText = z.string().check(z.maxLength(MAX_CONFIG_TEXT));
const Empty = z.strictObject({});
const ByName = z.strictObject({ name: TunnelName });

/** Which file of a relay's TLS a picked file is: a token for one kind is refused as another. */
export const TransportFileKind = z.enum(['clientCert', 'clientKey', 'ca']);

/**
 * What the renderer holds for a file the main process read for it: a random handle (32 bytes,
 * base64url), never the contents. Only the main process can turn it back into the file.
 */
export const FileToken = z.string().check(z.regex(/^[A-Za-z0-9_-]{43}$/, 'not a file token'));

/**
 * A tunnel's transport as the renderer asks for it: like the helper's TransportSetting, but the
 * certificate, key and CA are tokens from transport.pickFile, which the main process resolves.
 */
export const TransportRequest = z
  .discriminatedUnion('kind', [
    z.strictObject({ name: TunnelName, kind: z.literal('udp') }),
    z.strictObject({
      name: TunnelName,
      kind: z.literal('relay'),
      url: RelayUrl,
      fallback: z.optional(z.boolean()),
      proxy: z.optional(ProxyUrl),
      clientCertToken: z.optional(FileToken),
      clientKeyToken: z.optional(FileToken),
      caToken: z.optional(FileToken),
      /** The stored files and proxy this request does not give again stay (the helper's `keep`). */
      keep: z.optional(TransportKeep),
    }),
  ])
  .check(
    z.refine(
      (request) =>
        request.kind === 'udp' ||
        (request.clientCertToken === undefined) === (request.clientKeyToken === undefined),
      { message: 'a client certificate goes with its key', path: ['clientKeyToken'] },
    ),
  );

/** How the app's link to the helper is doing; the UI shows each with its fix. */
export const HelperConnection = z.object({
  state: z.enum(['connecting', 'connected', 'unavailable', 'out-of-date', 'unauthorized']),
  /** For people: what is wrong and what to do. */
  message: z.optional(z.string()),
  /** The app can offer to start or install the helper (Linux: through polkit). */
  canFix: z.boolean(),
});

export const Theme = z.enum(['system', 'light', 'dark']);

/** Settings of the app itself, kept per user (the helper's settings are system-wide). */
export const AppSettings = z.object({
  startAtLogin: z.boolean(),
  /** The tunnel to connect when the app starts, or null. */
  connectOnLaunch: z.nullable(TunnelName),
  closeToTray: z.boolean(),
  theme: Theme,
});

export const invokes = {
  'app.state': {
    params: Empty,
    result: z.object({ helper: HelperConnection, settings: AppSettings, version: z.string() }),
  },
  'app.settings.set': { params: z.strictObject(z.partial(AppSettings).shape), result: AppSettings },
  /** Asks the OS to start (or install) the helper service; resolves once it was asked. */
  'app.fixHelper': { params: Empty, result: Empty },
  /** A native open-file dialog for .conf files; null when cancelled. */
  'app.openConfigFile': {
    params: Empty,
    result: z.nullable(z.object({ name: z.string(), text: ConfigText })),
  },
  /** A native save dialog, then the helper's diagnostics report written there; null when cancelled. */
  'app.saveDiagnostics': { params: Empty, result: z.nullable(z.object({ path: z.string() })) },
  /**
   * A save dialog, then the tunnel's file written there: without secrets, or with includePrivateKey a
   * full backup, which the helper gives to root only (tunnels.export refuses anyone else with
   * NOT_AUTHORIZED). The main process writes the file; the renderer still never sees a key.
   */
  'app.exportTunnel': {
    params: z.strictObject({ name: TunnelName, includePrivateKey: z.optional(z.boolean()) }),
    result: z.nullable(z.object({ path: z.string() })),
  },
  /** Opens one of the app's known links (help, issue tracker) in the browser. */
  'app.openLink': { params: z.strictObject({ link: z.enum(['help', 'issues']) }), result: Empty },
  /**
   * A native open dialog for a relay's client certificate, client key or CA; the main process reads
   * the file (at most 64 KiB of PEM) and keeps it. The renderer gets a token and the file's name, never
   * its contents; null when cancelled.
   */
  'transport.pickFile': {
    params: z.strictObject({ kind: TransportFileKind }),
    result: z.nullable(z.object({ token: FileToken, fileName: z.string() })),
  },
  /** Sets a tunnel's transport; the main process swaps each token for its file, once. */
  'transport.set': { params: TransportRequest, result: PublicTransport },

  // The helper's own methods, passed through unchanged (export never includes the private key).
  'tunnels.list': methods['tunnels.list'],
  'tunnels.get': methods['tunnels.get'],
  /** The config text without its PrivateKey line, for the editor. */
  'tunnels.text': { params: ByName, result: z.object({ text: z.string() }) },
  'tunnels.import': methods['tunnels.import'],
  'tunnels.create': methods['tunnels.create'],
  'tunnels.update': methods['tunnels.update'],
  'tunnels.rename': methods['tunnels.rename'],
  'tunnels.delete': methods['tunnels.delete'],
  'tunnels.connect': methods['tunnels.connect'],
  'tunnels.disconnect': methods['tunnels.disconnect'],
  'tunnels.transport.get': methods['tunnels.transport.get'],
  status: methods.status,
  'helperSettings.set': methods['settings.set'],
  'logs.tail': methods['logs.tail'],
} as const;

/** What the main process pushes; the renderer's stores are fed only by these and by invoke results. */
export const AppEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('helper-connection'), connection: HelperConnection }),
  z.object({ type: z.literal('helper'), event: HelperEvent }),
  z.object({ type: z.literal('app-settings'), settings: AppSettings }),
  /** The OS asked to show a tunnel (tray menu, notification click). */
  z.object({ type: z.literal('select-tunnel'), name: TunnelName }),
]);

export type HelperConnection = z.infer<typeof HelperConnection>;
export type AppSettings = z.infer<typeof AppSettings>;
export type Theme = z.infer<typeof Theme>;
export type TransportFileKind = z.infer<typeof TransportFileKind>;
export type TransportRequest = z.infer<typeof TransportRequest>;
export type AppEvent = z.infer<typeof AppEvent>;
export type InvokeName = keyof typeof invokes;
export type InvokeParams<M extends InvokeName> = z.infer<(typeof invokes)[M]['params']>;
export type InvokeResult<M extends InvokeName> = z.infer<(typeof invokes)[M]['result']>;

export { EVENT_CHANNEL, INVOKE_CHANNEL } from './channels.ts';

export function isInvokeName(name: unknown): name is InvokeName {
  return typeof name === 'string' && Object.hasOwn(invokes, name);
}

/**
 * The API the preload exposes as `window.phantommesh` (and the browser host's shim too).
 * `invoke` rejects with an Error whose message is for people; `code`, `line` and `key` ride along
 * for config errors so the editor can point at the line.
 */
export interface PhantomMeshApi {
  invoke<M extends InvokeName>(method: M, params: InvokeParams<M>): Promise<InvokeResult<M>>;
  onEvent(listener: (event: AppEvent) => void): () => void;
}

/** How an invoke failure crosses IPC (Electron keeps only `message` of a thrown Error). */
export const InvokeFailure = z.object({
  message: z.string(),
  code: z.string(),
  line: z.optional(z.int()),
  key: z.optional(z.string()),
});
export type InvokeFailure = z.infer<typeof InvokeFailure>;

/** The reply envelope of every invoke: a result or a failure, never a thrown Error. */
export type InvokeReply<M extends InvokeName> =
  { ok: true; result: InvokeResult<M> } | { ok: false; error: InvokeFailure };
