#!/usr/bin/env node
// The user-facing command line: a client of the helper's control API, like the app. Key commands
// work without the helper and print exactly what `wg genkey|pubkey|genpsk` print.
//
// The whole command line is checked before the helper is asked anything, so a mistake in it is
// reported as one (exit 2) even when no helper runs; so is an import file that cannot be read, and
// a configuration's errors are all listed, each at its line, as the app does.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { text as readText } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { checkConfig } from '../../../shared/src/config/parse.ts';
import { connectHelper, HelperError, type HelperClient } from '../../../shared/src/control/client.ts';
import {
  MAX_CONFIG_TEXT,
  TunnelName,
  type HelperEvent,
  type PublicTransport,
  type TransportSetting,
  type TunnelStatus,
} from '../../../shared/src/control/protocol.ts';
import { nameFromFile } from '../../../shared/src/config/name-from-file.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { DEFAULT_SOCKET_PATH } from '../../../shared/src/control/socket-path.ts';
import { genkey, genpsk, pubkey } from '../wireguard/keys.ts';
import { formatStatus, whyNotConnected } from './format.ts';

const DEFAULT_TIMEOUT_SECONDS = 15;

const USAGE = `usage: phantommesh [--socket PATH] [--json] <command>

Tunnels (through the PhantomMesh helper service):
  list                      the stored tunnels and their state
  import FILE [--name N]    store a wg-quick file as a tunnel (named after the file by default)
  new NAME                  create a tunnel with a fresh key pair; prints its public key
  show NAME                 a tunnel's configuration (no secrets) and status
  up NAME [--timeout S]     connect, and wait up to S seconds (default ${DEFAULT_TIMEOUT_SECONDS}) for a handshake
  down [NAME]               disconnect (every tunnel without a name)
  status                    what is up, with handshakes and transfer
  logs [-f]                 the helper's recent log; -f follows it
  kill-switch on|off        block all traffic outside the tunnels from connect until disconnect
  lockdown on|off           block all traffic outside the tunnels, even with none up, from boot
  export NAME [--private-key]   print the wg-quick file (the private key only for root)
  transport NAME            how the tunnel's datagrams travel: udp (WireGuard's own) or a relay
  transport NAME udp        plain WireGuard over UDP (the default)
  transport NAME tcp://HOST:PORT|ws://HOST:PORT/PATH|wss://HOST[:PORT]/PATH
        [--fallback] [--proxy http://[USER:PASS@]HOST:PORT]
        [--client-cert FILE --client-key FILE] [--ca FILE] [--keep]
                            carry it through a phantommesh-relay beside the server; --fallback
                            tries UDP first. Files are read here, as you, and sent to the helper;
                            --keep keeps the stored certificate, key, CA and proxy not given again
  delete NAME               delete a stored tunnel
  diagnostics               a report for bug reports: versions, configs without secrets, routes,
                            rules, DNS, recent log

Keys (no helper needed):
  genkey | pubkey | genpsk  exactly as wg genkey | wg pubkey | wg genpsk

Exit codes: 0 ok, 1 the helper refused or failed, 2 usage, 3 helper unavailable,
4 not authorized, 5 helper and client versions differ.`;

const HINT = 'Run "phantommesh --help" for the commands and their options.';

const EXIT = { failed: 1, usage: 2, unavailable: 3, unauthorized: 4, version: 5 } as const;

/** A mistake in the command line, found before the helper is asked anything. */
class UsageError extends Error {
  /** The command's own synopsis, when the mistake is in one command's arguments. */
  readonly synopsis: string | undefined;
  constructor(message: string, synopsis?: string) {
    super(message);
    this.synopsis = synopsis;
  }
}

/** A failure the CLI found itself, reported as it is with its exit code. */
class CliError extends Error {
  readonly exitCode: number;
  /** Lines printed before the message, as they are (a configuration's problems, one a line). */
  readonly details: readonly string[];
  constructor(message: string, exitCode: number, details: readonly string[] = []) {
    super(message);
    this.exitCode = exitCode;
    this.details = details;
  }
}

const OPTIONS = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  name: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
  'private-key': { type: 'boolean' },
  timeout: { type: 'string' },
  fallback: { type: 'boolean' },
  proxy: { type: 'string' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  ca: { type: 'string' },
  keep: { type: 'boolean' },
} as const;
type OptionName = keyof typeof OPTIONS;
/** Options every command takes. */
const GLOBAL_OPTIONS: readonly OptionName[] = ['socket', 'json', 'help'];
const OPTION_SYNOPSIS: Partial<Record<OptionName, string>> = {
  name: '--name NAME',
  follow: '-f',
  'private-key': '--private-key',
  timeout: '--timeout SECONDS',
  fallback: '--fallback',
  proxy: '--proxy URL',
  'client-cert': '--client-cert FILE',
  'client-key': '--client-key FILE',
  ca: '--ca FILE',
  keep: '--keep',
};

interface CommandSpec {
  /** Required positional arguments, as the usage names them. */
  args: readonly string[];
  optional?: readonly string[];
  options?: readonly OptionName[];
}

const COMMANDS: Record<string, CommandSpec> = {
  list: { args: [] },
  import: { args: ['FILE'], options: ['name'] },
  new: { args: ['NAME'] },
  show: { args: ['NAME'] },
  up: { args: ['NAME'], options: ['timeout'] },
  down: { args: [], optional: ['NAME'] },
  status: { args: [] },
  logs: { args: [], options: ['follow'] },
  'kill-switch': { args: ['on|off'] },
  lockdown: { args: ['on|off'] },
  export: { args: ['NAME'], options: ['private-key'] },
  delete: { args: ['NAME'] },
  transport: {
    args: ['NAME'],
    optional: ['udp|URL'],
    options: ['fallback', 'proxy', 'client-cert', 'client-key', 'ca', 'keep'],
  },
  diagnostics: { args: [] },
  genkey: { args: [] },
  pubkey: { args: [] },
  genpsk: { args: [] },
};

function synopsis(command: string): string {
  const spec = COMMANDS[command]!;
  return [
    `phantommesh ${command}`,
    ...spec.args,
    ...(spec.optional ?? []).map((arg) => `[${arg}]`),
    ...(spec.options ?? []).map((option) => `[${OPTION_SYNOPSIS[option]}]`),
  ].join(' ');
}

/** What the command line asks for, checked. */
interface Invocation {
  command: string;
  args: string[];
  socket: string;
  json: boolean;
  name: string | undefined;
  follow: boolean;
  privateKey: boolean;
  timeoutSeconds: number;
  /** transport's options, as given. */
  relay: {
    fallback: boolean;
    keep: boolean;
    proxy?: string;
    clientCert?: string;
    clientKey?: string;
    ca?: string;
  };
}

function isOption(name: string): name is OptionName {
  return Object.hasOwn(OPTIONS, name);
}

/** A tunnel name the helper would accept, or a usage error saying what is wrong with it. */
function checkName(name: string, command: string): string {
  const checked = TunnelName.safeParse(name);
  if (checked.success) return checked.data;
  const rule = checked.error.issues[0]?.message ?? 'not a tunnel name';
  throw new UsageError(`${JSON.stringify(name)} is not a valid tunnel name: ${rule}`, synopsis(command));
}

function parseTimeout(text: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(seconds > 0 && seconds <= 86_400))
    throw new UsageError(
      `--timeout takes a number of seconds above 0 (at most 86400), not ${JSON.stringify(text)}`,
      synopsis('up'),
    );
  return seconds;
}

function parseCommandLine(argv: string[]): Invocation | 'help' | 'nothing' {
  // Not strict: unknown options come back as tokens, to be refused in our words.
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    tokens: true,
    options: OPTIONS,
  });
  if (values.help === true) return 'help';
  const [command, ...args] = positionals;
  const given = new Set<OptionName>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (!isOption(token.name)) throw new UsageError(`unknown option ${token.rawName}`);
    const type = OPTIONS[token.name].type;
    if (type === 'string' && token.value === undefined)
      throw new UsageError(`${token.rawName} needs a value`);
    if (type === 'boolean' && token.value !== undefined)
      throw new UsageError(`${token.rawName} takes no value`);
    given.add(token.name);
  }
  if (command === undefined) return 'nothing';
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command ${JSON.stringify(command)}`);

  for (const option of given) {
    if (!GLOBAL_OPTIONS.includes(option) && !spec.options?.includes(option)) {
      const raw = option === 'follow' ? '-f' : `--${option}`;
      throw new UsageError(`${command} does not take ${raw}`, synopsis(command));
    }
  }
  if (args.length < spec.args.length)
    throw new UsageError(`${command} needs ${spec.args[args.length]}`, synopsis(command));
  const most = spec.args.length + (spec.optional?.length ?? 0);
  if (args.length > most)
    throw new UsageError(`${command}: unexpected argument ${JSON.stringify(args[most])}`, synopsis(command));

  const invocation: Invocation = {
    command,
    args,
    socket: typeof values.socket === 'string' ? values.socket : DEFAULT_SOCKET_PATH,
    json: values.json === true,
    name: typeof values.name === 'string' ? checkName(values.name, command) : undefined,
    follow: values.follow === true,
    privateKey: values['private-key'] === true,
    timeoutSeconds:
      typeof values.timeout === 'string' ? parseTimeout(values.timeout) : DEFAULT_TIMEOUT_SECONDS,
    relay: {
      fallback: values.fallback === true,
      keep: values.keep === true,
      ...(typeof values.proxy === 'string' ? { proxy: values.proxy } : {}),
      ...(typeof values['client-cert'] === 'string' ? { clientCert: values['client-cert'] } : {}),
      ...(typeof values['client-key'] === 'string' ? { clientKey: values['client-key'] } : {}),
      ...(typeof values.ca === 'string' ? { ca: values.ca } : {}),
    },
  };
  if (command === 'transport') checkTransportArgs(invocation);
  if ((command === 'kill-switch' || command === 'lockdown') && args[0] !== 'on' && args[0] !== 'off')
    throw new UsageError(`${command} takes on or off, not ${JSON.stringify(args[0])}`, synopsis(command));
  if ([...spec.args, ...(spec.optional ?? [])].includes('NAME') && args[0] !== undefined)
    checkName(args[0], command);
  return invocation;
}

// ---------------------------------------------------------------------------------------------
// transport: the relay's options only go with a relay URL; files are read here, as the user.

function checkTransportArgs({ args, relay }: Invocation): void {
  const target = args[1];
  const relayOptions = relay.fallback || relay.keep || Object.keys(relay).length > 2;
  if (target === undefined || target === 'udp') {
    if (relayOptions)
      throw new UsageError(
        '--fallback, --proxy, --client-cert, --client-key, --ca and --keep go with a relay URL',
        synopsis('transport'),
      );
    return;
  }
  if (!/^(tcp|wss?):\/\//.test(target))
    throw new UsageError(
      `${JSON.stringify(target)} is neither udp nor a relay URL (tcp://HOST:PORT, ws://HOST:PORT/PATH, wss://HOST[:PORT]/PATH)`,
      synopsis('transport'),
    );
  if ((relay.clientCert === undefined) !== (relay.clientKey === undefined))
    throw new UsageError('--client-cert and --client-key go together', synopsis('transport'));
}

async function readPem(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new CliError(`${option}: cannot read ${file}: ${why}`, EXIT.usage);
  }
}

async function transportSetting({ args, relay }: Invocation): Promise<TransportSetting> {
  const url = args[1]!;
  if (url === 'udp') return { kind: 'udp' };
  return {
    kind: 'relay',
    url,
    ...(relay.fallback ? { fallback: true } : {}),
    ...(relay.keep ? { keep: ['clientCertificate', 'ca', 'proxy'] as const } : {}),
    ...(relay.proxy !== undefined ? { proxy: relay.proxy } : {}),
    ...(relay.clientCert !== undefined
      ? { clientCert: await readPem(relay.clientCert, '--client-cert') }
      : {}),
    ...(relay.clientKey !== undefined ? { clientKey: await readPem(relay.clientKey, '--client-key') } : {}),
    ...(relay.ca !== undefined ? { ca: await readPem(relay.ca, '--ca') } : {}),
  };
}

function formatTransport(transport: PublicTransport): string {
  if (transport.kind === 'udp') return 'udp (WireGuard over UDP)';
  return [
    `relay: ${transport.url}${transport.fallback ? ' (fallback: UDP first)' : ''}`,
    ...(transport.proxy ? [`  proxy: ${transport.proxy}`] : []),
    ...(transport.clientCertificate ? [`  client certificate: ${transport.clientCertificate}`] : []),
    ...(transport.ca ? [`  trusted CA: ${transport.ca}`] : []),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// import: the file is read and checked here, as the app checks it, before the helper sees it.

/** A valid name to suggest for a file whose name is not one. */
function suggestName(base: string): string {
  const suggested = nameFromFile(base);
  return TunnelName.safeParse(suggested).success ? suggested : 'NAME';
}

/** A file name as a shell word, for a command the user can copy. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./=+:@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function importName(file: string, option: string | undefined): string {
  if (option !== undefined) return option;
  const base = basename(file).replace(/\.conf$/, '');
  if (TunnelName.safeParse(base).success) return base;
  throw new UsageError(
    `${JSON.stringify(base)} (from the file name) is not a valid tunnel name: a tunnel name is ` +
      `1-15 letters, digits or _=+.- (no spaces).\nChoose one with --name, e.g.: ` +
      `phantommesh import ${shellWord(file)} --name ${suggestName(base)}`,
  );
}

async function readConfigFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied (the CLI reads it as you, not as the helper)'
          : code === 'EISDIR'
            ? 'it is a directory, not a wg-quick file'
            : (error as Error).message;
    throw new CliError(`cannot read ${file}: ${why}`, EXIT.usage);
  }
}

/** Every problem in a wg-quick file as `FILE:LINE: problem`, in line order; none when it is fine. */
function configProblems(file: string, text: string): string[] {
  const problems = checkConfig(text).errors.map((error) => ({
    line: error.line,
    text: error.message.replace(/^line \d+: /, ''),
  }));
  // The parser accepts wg-quick's hooks; the helper refuses them. Say so at their lines, as the app does.
  const taken = new Set(problems.map((problem) => problem.line));
  text.split('\n').forEach((raw, index) => {
    const hook = /^\s*(PreUp|PostUp|PreDown|PostDown)\s*=/i.exec(raw.split('#')[0]!);
    if (hook && !taken.has(index + 1))
      problems.push({
        line: index + 1,
        text: `${hook[1]}: PhantomMesh never runs shell commands from a configuration (its helper runs as root); remove this line`,
      });
  });
  return problems
    .sort((a, b) => a.line - b.line)
    .map((problem) => `${file}:${problem.line}: ${problem.text}`);
}

async function prepareImport(invocation: Invocation): Promise<{ name: string; text: string; file: string }> {
  const file = invocation.args[0]!;
  const text = await readConfigFile(file);
  const name = importName(file, invocation.name);
  if (text.length > MAX_CONFIG_TEXT)
    throw new CliError(
      `${file} is too large for a wg-quick file (${text.length} characters; at most ${MAX_CONFIG_TEXT})`,
      EXIT.failed,
    );
  const problems = configProblems(file, text);
  if (problems.length > 0) {
    const count = problems.length === 1 ? 'an error' : `${problems.length} errors`;
    throw new CliError(`${file} has ${count}; nothing was imported`, EXIT.failed, problems);
  }
  return { name, text, file };
}

// ---------------------------------------------------------------------------------------------

function print(json: boolean, value: unknown, human: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human());
}

async function keyCommand(command: string): Promise<boolean> {
  if (command === 'genkey') console.log(genkey());
  else if (command === 'genpsk') console.log(genpsk());
  else if (command === 'pubkey') console.log(pubkey(await readText(process.stdin)));
  else return false;
  return true;
}

/**
 * The first status of `name` that settles `up`: connected, failed or taken down. Null when none
 * comes within `ms`.
 */
async function waitForOutcome(client: HelperClient, name: string, ms: number): Promise<TunnelStatus | null> {
  return new Promise((resolve) => {
    // Unref: a failed connect must not keep the process waiting for this timer.
    const timer = setTimeout(() => finish(null), ms).unref();
    const stop = client.onEvent((event: HelperEvent) => {
      const statuses =
        event.type === 'tunnel-state' ? [event.status] : event.type === 'stats' ? event.tunnels : [];
      const settled = statuses.find(
        (status) =>
          status.name === name &&
          (status.state === 'connected' ||
            (event.type === 'tunnel-state' && (status.state === 'error' || status.state === 'disconnected'))),
      );
      if (settled) finish(settled);
    });
    function finish(status: TunnelStatus | null) {
      clearTimeout(timer);
      stop();
      resolve(status);
    }
  });
}

/**
 * Why `up` failed. A tunnel still trying stays up, as wg-quick leaves one: WireGuard has no
 * "connected" state of its own, and the handshake may well succeed later (a peer that is restarting,
 * a network that is not up yet); the kill switch keeps holding meanwhile. The user is told how to stop it.
 */
function notConnected(name: string, status: TunnelStatus, seconds: number): string {
  if (status.state === 'error')
    return `${name} did not connect: ${(status.reason ?? 'the tunnel failed').replace(/^The /, 'the ')}`;
  if (status.state === 'disconnected') return `${name} was taken down before it connected`;
  const lines = [`${name} did not connect within ${seconds} s: ${whyNotConnected(status)}`];
  if (status.peers.some((peer) => peer.endpoint))
    lines.push(
      `Check that the peer is reachable there and knows this tunnel's public key (phantommesh show ${name}).`,
    );
  lines.push(
    `${name} stays up and keeps trying, as wg-quick would leave it; to stop it: phantommesh down ${name}`,
  );
  return lines.join('\n');
}

async function helperCommand(
  client: HelperClient,
  invocation: Invocation,
  imported?: { name: string; text: string; file: string },
) {
  const { json, command, args } = invocation;
  switch (command) {
    case 'list': {
      const tunnels = await client.call('tunnels.list', {});
      return print(json, tunnels, () =>
        tunnels.length === 0
          ? 'no tunnels (add one with: phantommesh import FILE.conf)'
          : tunnels
              .map(
                (t) =>
                  `${t.name.padEnd(16)} ${t.state.padEnd(13)} ${t.addresses.join(', ') || '-'}  ${t.endpoints.join(', ')}`,
              )
              .join('\n'),
      );
    }
    case 'import': {
      const { name, text, file } = imported!;
      let summary;
      try {
        summary = await client.call('tunnels.import', { name, text });
      } catch (error) {
        if (!(error instanceof HelperError)) throw error;
        if (error.line !== undefined)
          throw new CliError(
            `${file}:${error.line}: ${error.message.replace(/^line \d+: /, '')}`,
            EXIT.failed,
          );
        if (error.code === 'TUNNEL_EXISTS')
          throw new CliError(
            `${error.message}; choose another name with --name NAME, or delete it first (phantommesh delete ${name})`,
            EXIT.failed,
          );
        throw error;
      }
      return print(json, summary, () => `imported ${summary.name} (public key ${summary.publicKey})`);
    }
    case 'new': {
      const summary = await client.call('tunnels.create', { name: args[0]! });
      return print(json, summary, () => `created ${summary.name}\npublic key: ${summary.publicKey}`);
    }
    case 'show': {
      const name = args[0]!;
      const detail = await client.call('tunnels.get', { name });
      return print(json, detail, () => {
        const { config, status } = detail;
        const lines = [`tunnel: ${name}`, `  public key: ${config.interface.publicKey}`];
        if (config.interface.addresses.length)
          lines.push(
            `  addresses: ${config.interface.addresses.map((a) => `${a.address}/${a.bits}`).join(', ')}`,
          );
        if (config.interface.dns.length) lines.push(`  dns: ${config.interface.dns.join(', ')}`);
        for (const peer of config.peers) {
          lines.push('', `peer: ${peer.publicKey}`);
          if (peer.endpoint) lines.push(`  endpoint: ${peer.endpoint.host}:${peer.endpoint.port}`);
          lines.push(
            `  allowed ips: ${peer.allowedIps.map((a) => `${a.address}/${a.bits}`).join(', ') || '(none)'}`,
          );
          if (peer.hasPresharedKey) lines.push('  preshared key: (hidden)');
        }
        return [...lines, '', formatStatus(status)].join('\n');
      });
    }
    case 'up': {
      const name = args[0]!;
      await client.call('events.subscribe', {});
      const waiting = waitForOutcome(client, name, invocation.timeoutSeconds * 1000);
      const status = await client.call('tunnels.connect', { name });
      const final =
        status.state === 'connected'
          ? status
          : ((await waiting) ?? (await client.call('tunnels.get', { name })).status);
      if (final.state === 'connected') return print(json, final, () => formatStatus(final));
      // Scripts still get the status; the reason goes to stderr, and the exit code says it failed.
      if (json) print(json, final, () => '');
      throw new CliError(notConnected(name, final, invocation.timeoutSeconds), EXIT.failed);
    }
    case 'down': {
      const name = args[0];
      if (name === undefined) {
        await client.call('tunnels.disconnect', {});
        return print(json, {}, () => 'all tunnels are down');
      }
      // An unknown name is an error, as it is for `up`; the helper would take it for "nothing to do".
      const { status } = await client.call('tunnels.get', { name });
      // Asked even when it is not up: a disconnect also lifts a kill switch left closed by a failure.
      await client.call('tunnels.disconnect', { name });
      return print(json, {}, () =>
        status.state === 'disconnected' ? `${name} was not up` : `${name} is down`,
      );
    }
    case 'status': {
      const status = await client.call('status', {});
      return print(json, status, () =>
        [
          status.tunnels.length ? status.tunnels.map(formatStatus).join('\n\n') : 'no tunnel is up',
          [
            `kill switch: ${status.settings.killSwitch ? 'on' : 'off'}`,
            `lockdown: ${status.settings.lockdown ? 'on' : 'off'}`,
            status.blocking
              ? `traffic outside the tunnels: BLOCKED (${status.blocking.reason})`
              : 'traffic outside the tunnels: not blocked',
          ].join('\n'),
        ].join('\n\n'),
      );
    }
    case 'logs': {
      if (invocation.follow) {
        await client.call('events.subscribe', {});
        client.onEvent((event) => {
          if (event.type === 'log')
            console.log(json ? JSON.stringify(event.line) : formatLogLine(event.line));
          else if (event.type === 'firewall-restored')
            console.log(
              json ? JSON.stringify(event) : `firewall restored: ${event.reason}; PhantomMesh restored it`,
            );
        });
        await client.closed;
        return;
      }
      const lines = await client.call('logs.tail', { lines: 200 });
      return print(json, lines, () => lines.map(formatLogLine).join('\n'));
    }
    case 'kill-switch': {
      const settings = await client.call('settings.set', { killSwitch: args[0] === 'on' });
      return print(json, settings, () => `kill switch ${settings.killSwitch ? 'on' : 'off'}`);
    }
    case 'lockdown': {
      const settings = await client.call('settings.set', { lockdown: args[0] === 'on' });
      return print(json, settings, () =>
        settings.lockdown
          ? 'lockdown on: only tunnels may carry traffic, from boot, until you turn it off'
          : 'lockdown off',
      );
    }
    case 'export': {
      const exported = await client.call('tunnels.export', {
        name: args[0]!,
        includePrivateKey: invocation.privateKey,
      });
      return print(json, exported, () => exported.text.trimEnd());
    }
    case 'diagnostics': {
      const report = await client.call('diagnostics', {});
      return print(json, report, () => report.text.trimEnd());
    }
    case 'transport': {
      const name = args[0]!;
      const transport =
        args[1] === undefined
          ? await client.call('tunnels.transport.get', { name })
          : await client.call('tunnels.transport.set', {
              name,
              transport: await transportSetting(invocation),
            });
      return print(json, transport, () => `${name}: ${formatTransport(transport)}`);
    }
    case 'delete': {
      const name = args[0]!;
      await client.call('tunnels.delete', { name });
      return print(json, {}, () => `deleted ${name}`);
    }
  }
}

function formatLogLine(line: { time: number; level: string; source: string; message: string }): string {
  return `${new Date(line.time).toISOString()} ${line.level.padEnd(5)} ${line.source}: ${line.message}`;
}

async function main(): Promise<number> {
  const invocation = parseCommandLine(process.argv.slice(2));
  if (invocation === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (invocation === 'nothing') {
    console.error(USAGE);
    return EXIT.usage;
  }
  if (await keyCommand(invocation.command)) return 0;
  const imported = invocation.command === 'import' ? await prepareImport(invocation) : undefined;
  let client: HelperClient;
  try {
    // Windows: the pipe is opened by hand and its server checked to run as LocalSystem before anything
    // is sent (control/pipe-server-check_windows.ts, through the seam); loaded there only.
    const openVerified =
      process.platform === 'win32'
        ? (await import('../control/peercred.ts')).controlServerCheck()
        : undefined;
    client = await connectHelper({
      socketPath: invocation.socket,
      client: 'phantommesh-cli',
      ...(openVerified ? { openVerified } : {}),
    });
  } catch (error) {
    const code = error instanceof PhantomError ? error.code : '';
    if (code === 'VERSION_MISMATCH' || code === 'NOT_AUTHORIZED') {
      console.error(`phantommesh: ${(error as Error).message}`);
      return code === 'VERSION_MISMATCH' ? EXIT.version : EXIT.unauthorized;
    }
    console.error(
      `phantommesh: the PhantomMesh helper is not available at ${invocation.socket}: ${(error as Error).message}\n` +
        (process.platform === 'win32'
          ? 'Is the service running? (sc query PhantomMeshHelper; start it with sc start PhantomMeshHelper as an administrator)'
          : 'Is the service running? (systemctl status phantommesh-helper)'),
    );
    return EXIT.unavailable;
  }
  try {
    await helperCommand(client, invocation, imported);
    return 0;
  } finally {
    client.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(
        [`phantommesh: ${error.message}`, ...(error.synopsis ? [`usage: ${error.synopsis}`] : []), HINT].join(
          '\n',
        ),
      );
      process.exitCode = EXIT.usage;
      return;
    }
    if (error instanceof CliError) {
      console.error([...error.details, `phantommesh: ${error.message}`].join('\n'));
      process.exitCode = error.exitCode;
      return;
    }
    console.error(`phantommesh: ${(error as Error).message ?? String(error)}`);
    const code = error instanceof PhantomError ? error.code : '';
    process.exitCode = code === 'NOT_AUTHORIZED' ? EXIT.unauthorized : EXIT.failed;
  },
);
