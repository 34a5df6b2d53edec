#!/usr/bin/env node
// The user-facing command line: a client of the helper's control API, like the app. Key commands
// work without the helper and print exactly what `wg genkey|pubkey|genpsk` print.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { connectHelper, type HelperClient } from '../../../shared/src/control/client.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import type { HelperEvent, TunnelStatus } from '../../../shared/src/control/protocol.ts';
import { DEFAULT_SOCKET_PATH } from '../service/paths.ts';
import { genkey, genpsk, pubkey } from '../wireguard/keys.ts';
import { formatStatus } from './format.ts';

const USAGE = `usage: phantommesh [--socket PATH] [--json] <command>

Tunnels (through the PhantomMesh helper service):
  list                      the stored tunnels and their state
  import FILE [--name N]    store a wg-quick file as a tunnel (named after the file by default)
  new NAME                  create a tunnel with a fresh key pair; prints its public key
  show NAME                 a tunnel's configuration (no secrets) and status
  up NAME                   connect
  down [NAME]               disconnect (every tunnel without a name)
  status                    what is up, with handshakes and transfer
  logs [-f]                 the helper's recent log; -f follows it
  kill-switch on|off        block all traffic outside the tunnel while one is up
  export NAME [--private-key]   print the wg-quick file (the private key only for root)
  delete NAME               delete a stored tunnel
  diagnostics               a report for bug reports: versions, configs without secrets, routes,
                            rules, DNS, recent log

Keys (no helper needed):
  genkey | pubkey | genpsk  exactly as wg genkey | wg pubkey | wg genpsk

Exit codes: 0 ok, 1 the helper refused or failed, 2 usage, 3 helper unavailable,
4 not authorized, 5 helper and client versions differ.`;

const EXIT = { failed: 1, usage: 2, unavailable: 3, unauthorized: 4, version: 5 } as const;

class UsageError extends Error {}

function parse() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        socket: { type: 'string', default: DEFAULT_SOCKET_PATH },
        json: { type: 'boolean', default: false },
        name: { type: 'string' },
        follow: { type: 'boolean', short: 'f', default: false },
        'private-key': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function print(json: boolean, value: unknown, human: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human());
}

function need(positionals: string[], count: number, what: string): string[] {
  if (positionals.length !== count + 1) throw new UsageError(`usage: phantommesh ${positionals[0]} ${what}`);
  return positionals.slice(1);
}

async function keyCommand(command: string): Promise<boolean> {
  if (command === 'genkey') console.log(genkey());
  else if (command === 'genpsk') console.log(genpsk());
  else if (command === 'pubkey') console.log(pubkey(await text(process.stdin)));
  else return false;
  return true;
}

async function waitForConnected(
  client: HelperClient,
  name: string,
  ms: number,
): Promise<TunnelStatus | null> {
  return new Promise((resolve) => {
    // Unref: a failed connect must not keep the process waiting for this timer.
    const timer = setTimeout(() => finish(null), ms).unref();
    const stop = client.onEvent((event: HelperEvent) => {
      if (event.type === 'tunnel-state' && event.status.name === name && event.status.state === 'connected')
        finish(event.status);
    });
    function finish(status: TunnelStatus | null) {
      clearTimeout(timer);
      stop();
      resolve(status);
    }
  });
}

async function helperCommand(
  client: HelperClient,
  positionals: string[],
  values: ReturnType<typeof parse>['values'],
) {
  const json = values.json;
  const [command] = positionals;
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
      const [file] = need(positionals, 1, 'FILE [--name NAME]');
      const name = values.name ?? basename(file!).replace(/\.conf$/, '');
      const summary = await client.call('tunnels.import', { name, text: await readFile(file!, 'utf8') });
      return print(json, summary, () => `imported ${summary.name} (public key ${summary.publicKey})`);
    }
    case 'new': {
      const [name] = need(positionals, 1, 'NAME');
      const summary = await client.call('tunnels.create', { name: name! });
      return print(json, summary, () => `created ${summary.name}\npublic key: ${summary.publicKey}`);
    }
    case 'show': {
      const [name] = need(positionals, 1, 'NAME');
      const detail = await client.call('tunnels.get', { name: name! });
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
      const [name] = need(positionals, 1, 'NAME');
      await client.call('events.subscribe', {});
      const waiting = waitForConnected(client, name!, 10_000);
      const status = await client.call('tunnels.connect', { name: name! });
      const final =
        status.state === 'connected'
          ? status
          : ((await waiting) ?? (await client.call('tunnels.get', { name: name! })).status);
      return print(json, final, () => formatStatus(final));
    }
    case 'down': {
      if (positionals.length > 2) throw new UsageError('usage: phantommesh down [NAME]');
      const name = positionals[1];
      await client.call('tunnels.disconnect', name ? { name } : {});
      return print(json, {}, () => (name ? `${name} is down` : 'all tunnels are down'));
    }
    case 'status': {
      const status = await client.call('status', {});
      return print(json, status, () =>
        [
          status.tunnels.length ? status.tunnels.map(formatStatus).join('\n\n') : 'no tunnel is up',
          `kill switch: ${status.settings.killSwitch ? 'on' : 'off'}`,
        ].join('\n\n'),
      );
    }
    case 'logs': {
      if (values.follow) {
        await client.call('events.subscribe', {});
        client.onEvent((event) => {
          if (event.type === 'log')
            console.log(json ? JSON.stringify(event.line) : formatLogLine(event.line));
        });
        await client.closed;
        return;
      }
      const lines = await client.call('logs.tail', { lines: 200 });
      return print(json, lines, () => lines.map(formatLogLine).join('\n'));
    }
    case 'kill-switch': {
      const [state] = need(positionals, 1, 'on|off');
      if (state !== 'on' && state !== 'off') throw new UsageError('usage: phantommesh kill-switch on|off');
      const settings = await client.call('settings.set', { killSwitch: state === 'on' });
      return print(json, settings, () => `kill switch ${settings.killSwitch ? 'on' : 'off'}`);
    }
    case 'export': {
      const [name] = need(positionals, 1, 'NAME [--private-key]');
      const exported = await client.call('tunnels.export', {
        name: name!,
        includePrivateKey: values['private-key'],
      });
      return print(json, exported, () => exported.text.trimEnd());
    }
    case 'diagnostics': {
      const report = await client.call('diagnostics', {});
      return print(json, report, () => report.text.trimEnd());
    }
    case 'delete': {
      const [name] = need(positionals, 1, 'NAME');
      await client.call('tunnels.delete', { name: name! });
      return print(json, {}, () => `deleted ${name}`);
    }
    default:
      throw new UsageError(USAGE);
  }
}

function formatLogLine(line: { time: number; level: string; source: string; message: string }): string {
  return `${new Date(line.time).toISOString()} ${line.level.padEnd(5)} ${line.source}: ${line.message}`;
}

async function main(): Promise<number> {
  const { values, positionals } = parse();
  const [command] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : EXIT.usage;
  }
  if (await keyCommand(command)) return 0;
  let client: HelperClient;
  try {
    client = await connectHelper({ socketPath: values.socket, client: 'phantommesh-cli' });
  } catch (error) {
    const code = error instanceof PhantomError ? error.code : '';
    if (code === 'VERSION_MISMATCH' || code === 'NOT_AUTHORIZED') {
      console.error(`phantommesh: ${(error as Error).message}`);
      return code === 'VERSION_MISMATCH' ? EXIT.version : EXIT.unauthorized;
    }
    console.error(
      `phantommesh: the PhantomMesh helper is not available at ${values.socket}: ${(error as Error).message}\n` +
        'Is the service running? (systemctl status phantommesh-helper)',
    );
    return EXIT.unavailable;
  }
  try {
    await helperCommand(client, positionals, values);
    return 0;
  } finally {
    client.close();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(error.message);
      process.exitCode = EXIT.usage;
      return;
    }
    console.error(`phantommesh: ${(error as Error).message ?? String(error)}`);
    const code = error instanceof PhantomError ? error.code : '';
    process.exitCode = code === 'NOT_AUTHORIZED' ? EXIT.unauthorized : EXIT.failed;
  },
);
