// The one place every renderer request arrives, in the Electron app (through ipc.ts) and in the browser
// host (through its WebSocket). It checks the method and its params against the IPC schema, forwards
// helper requests over the HelperLink, runs the app's own requests through the Platform, and answers
// with an InvokeReply: a failure is a reply, never an exception, because Electron keeps only the
// message of an Error thrown across IPC and the editor needs the code, line and key of a config error.
// It also pushes AppEvents: the link's state, every helper event, and the app settings when they change.

import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from '../../shared/src/zod.ts';
import { describeIssues, MAX_CONFIG_TEXT, type TransportSetting } from '../../shared/src/control/protocol.ts';
import { PhantomError } from '../../shared/src/errors.ts';
import {
  invokes,
  isInvokeName,
  type AppEvent,
  type InvokeFailure,
  type InvokeName,
  type InvokeParams,
  type InvokeReply,
  type InvokeResult,
  type TransportRequest,
} from '../../shared/src/ipc/schema.ts';
import type { AppSettingsStore } from './app-settings.ts';
import type { HelperLink } from './helper-link.ts';
import { LINKS } from './links.ts';
import type { Platform } from './platform.ts';
import { readPemFile, TransportFiles } from './transport-files.ts';

export interface AppControllerOptions {
  link: HelperLink;
  settings: AppSettingsStore;
  platform: Platform;
  /** The app's version, for app.state. */
  version: string;
  emit: (event: AppEvent) => void;
  log: (message: string) => void;
  /** Where picked certificate and key files wait for transport.set (tests pass a short-lived one). */
  transportFiles?: TransportFiles;
}

type Handlers = { [M in InvokeName]: (params: InvokeParams<M>) => Promise<InvokeResult<M>> };

/** The InvokeFailure for anything a handler throws; the line and key of a config error ride along. */
export function toFailure(error: unknown): InvokeFailure {
  if (error instanceof PhantomError) {
    const { line, key } = error as PhantomError & { line?: unknown; key?: unknown };
    return {
      message: error.message,
      code: error.code,
      ...(typeof line === 'number' && Number.isInteger(line) ? { line } : {}),
      ...(typeof key === 'string' ? { key } : {}),
    };
  }
  if (error instanceof z.core.$ZodError)
    return { message: `an answer outside the IPC schema: ${describeIssues(error)}`, code: 'INTERNAL' };
  return { message: error instanceof Error ? error.message : String(error), code: 'INTERNAL' };
}

/** Reads a file the user picked: at most MAX_CONFIG_TEXT bytes, which is what the helper accepts. */
async function readConfigFile(path: string): Promise<{ name: string; text: string }> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size > MAX_CONFIG_TEXT)
      throw new PhantomError(
        'FILE_TOO_LARGE',
        `${basename(path)} is ${size} bytes; a WireGuard configuration is at most ${MAX_CONFIG_TEXT}`,
      );
    return { name: basename(path).replace(/\.conf$/i, ''), text: await file.readFile('utf8') };
  } finally {
    await file.close();
  }
}

/**
 * An unknown method as a message may show it. Only strings are quoted: String() of anything else can
 * throw (an object whose toString is not a function; found by the fuzz campaign).
 */
function describeMethod(method: unknown): string {
  return typeof method === 'string'
    ? method.slice(0, 100)
    : `(a ${method === null ? 'null' : typeof method})`;
}

export class AppController {
  private readonly options: AppControllerOptions;
  private readonly handlers: Handlers;
  private readonly stops: Array<() => void> = [];
  private readonly transportFiles: TransportFiles;
  /** connectOnLaunch runs once per launch, at the first connection to the helper. */
  private launched = false;

  constructor(options: AppControllerOptions) {
    this.options = options;
    const { link, platform, settings } = options;
    this.transportFiles = options.transportFiles ?? new TransportFiles();
    this.handlers = {
      'app.state': async () => ({ helper: link.status, settings: settings.get(), version: options.version }),
      'app.settings.set': (changes) => this.setSettings(changes),
      'app.fixHelper': async () => {
        await platform.fixHelper();
        link.retryNow();
        return {};
      },
      'app.openConfigFile': async () => {
        const path = await platform.chooseConfigFile();
        return path === null ? null : readConfigFile(path);
      },
      // The report first: without a helper there is nothing to save, and no dialog should say otherwise.
      'app.saveDiagnostics': async () => {
        const { text } = await link.call('diagnostics', {});
        return this.saved(await platform.saveText('phantommesh-diagnostics.txt', text));
      },
      // The file first: a refusal (a full backup asked for by someone other than root) comes before
      // any dialog. A full backup is written readable by its owner only.
      'app.exportTunnel': async ({ name, includePrivateKey = false }) => {
        const { text } = await link.call('tunnels.export', { name, includePrivateKey });
        return this.saved(await platform.saveText(`${name}.conf`, text, { secret: includePrivateKey }));
      },
      'app.openLink': async ({ link: which }) => {
        await platform.openExternal(LINKS[which]);
        return {};
      },
      // The file is read here, as the user; the renderer gets a token for it and the file's name.
      'transport.pickFile': async ({ kind }) => {
        const path = await platform.chooseTransportFile(kind);
        if (path === null) return null;
        const contents = await readPemFile(path, kind);
        return { token: this.transportFiles.hold(kind, contents), fileName: basename(path) };
      },
      'transport.set': async (request) =>
        link.call('tunnels.transport.set', {
          name: request.name,
          transport: this.transportSetting(request),
        }),
      'tunnels.transport.get': (params) => link.call('tunnels.transport.get', params),
      'tunnels.list': (params) => link.call('tunnels.list', params),
      'tunnels.get': (params) => link.call('tunnels.get', params),
      // The helper leaves out PrivateKey and PresharedKey unless asked (and then only for root).
      'tunnels.text': ({ name }) => link.call('tunnels.export', { name, includePrivateKey: false }),
      'tunnels.import': (params) => link.call('tunnels.import', params),
      'tunnels.create': (params) => link.call('tunnels.create', params),
      'tunnels.update': (params) => link.call('tunnels.update', params),
      'tunnels.rename': (params) => link.call('tunnels.rename', params),
      'tunnels.delete': (params) => link.call('tunnels.delete', params),
      'tunnels.connect': (params) => link.call('tunnels.connect', params),
      'tunnels.disconnect': (params) => link.call('tunnels.disconnect', params),
      status: (params) => link.call('status', params),
      'helperSettings.set': (params) => link.call('settings.set', params),
      'logs.tail': (params) => link.call('logs.tail', params),
    };
  }

  start(): void {
    const { link, emit } = this.options;
    this.stops.push(
      link.onStatus((connection) => {
        emit({ type: 'helper-connection', connection });
        if (connection.state === 'connected') void this.connectOnLaunch();
      }),
      link.onEvent((event) => emit({ type: 'helper', event })),
    );
    if (link.status.state === 'connected') void this.connectOnLaunch();
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.transportFiles.clear();
  }

  /** Handles one request from the renderer. Never rejects: every failure is an InvokeReply. */
  invoke<M extends InvokeName>(method: M, params: InvokeParams<M>): Promise<InvokeReply<M>>;
  /** What arrives over IPC is unchecked: anything may come in; a failure reply goes out. */
  invoke(method: unknown, params: unknown): Promise<InvokeReply<InvokeName>>;
  async invoke(method: unknown, params: unknown): Promise<InvokeReply<InvokeName>> {
    if (!isInvokeName(method))
      return {
        ok: false,
        error: { code: 'METHOD_NOT_FOUND', message: `no such method: ${describeMethod(method)}` },
      };
    return this.run(method, params);
  }

  /** The OS asked to show a tunnel (tray, notification). */
  selectTunnel(name: string): void {
    this.options.emit({ type: 'select-tunnel', name });
  }

  private async run<M extends InvokeName>(method: M, params: unknown): Promise<InvokeReply<M>> {
    const schema = invokes[method];
    const parsed = schema.params.safeParse(params);
    if (!parsed.success)
      return {
        ok: false,
        error: { code: 'INVALID_PARAMS', message: `${method}: ${describeIssues(parsed.error)}` },
      };
    try {
      const handler = this.handlers[method] as (params: InvokeParams<M>) => Promise<InvokeResult<M>>;
      const result = await handler(parsed.data as InvokeParams<M>);
      // Checked on the way out too: what the schema does not name (a secret a handler forgot) is
      // stripped, and a result of the wrong shape is a failure here rather than in the renderer.
      return { ok: true, result: schema.result.parse(result) as InvokeResult<M> };
    } catch (error) {
      return { ok: false, error: toFailure(error) };
    }
  }

  /** The helper's TransportSetting for a request: each token swapped for its file, which is let go. */
  private transportSetting(request: TransportRequest): TransportSetting {
    if (request.kind === 'udp') return { kind: 'udp' };
    const { url, fallback, proxy, clientCertToken, clientKeyToken, caToken, keep } = request;
    const files = this.transportFiles.takeAll({
      ...(clientCertToken !== undefined
        ? { clientCert: { token: clientCertToken, kind: 'clientCert' } }
        : {}),
      ...(clientKeyToken !== undefined ? { clientKey: { token: clientKeyToken, kind: 'clientKey' } } : {}),
      ...(caToken !== undefined ? { ca: { token: caToken, kind: 'ca' } } : {}),
    } as const);
    return {
      kind: 'relay',
      url,
      ...(fallback ? { fallback } : {}),
      ...(proxy !== undefined ? { proxy } : {}),
      ...(keep !== undefined ? { keep } : {}),
      ...files,
    };
  }

  private saved(path: string | null): { path: string } | null {
    return path === null ? null : { path };
  }

  private async setSettings(
    changes: InvokeParams<'app.settings.set'>,
  ): Promise<InvokeResult<'app.settings.set'>> {
    const { settings, platform, emit } = this.options;
    // The OS first: a login item it refused must not be saved as on.
    if (changes.startAtLogin !== undefined && changes.startAtLogin !== settings.get().startAtLogin)
      await platform.setStartAtLogin(changes.startAtLogin);
    const updated = await settings.update(changes);
    emit({ type: 'app-settings', settings: updated });
    return updated;
  }

  private async connectOnLaunch(): Promise<void> {
    if (this.launched) return;
    this.launched = true;
    const name = this.options.settings.get().connectOnLaunch;
    if (!name) return;
    try {
      // The helper answers with the current status when the tunnel is already up.
      await this.options.link.call('tunnels.connect', { name });
      this.options.log(`connected ${name} on launch`);
    } catch (error) {
      this.options.log(`could not connect ${name} on launch: ${(error as Error).message}`);
    }
  }
}
