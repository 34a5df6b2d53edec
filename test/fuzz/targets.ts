// The fuzz campaign's targets: every place hostile input enters PhantomMesh, each with the property
// that must hold for ANY input. Property-based with fast-check (Node has no maintained
// coverage-guided fuzzer that installs without downloading native builds): inputs are random, then
// biased towards the valid shape (mutated real configs, frames and packets), where the bugs live.
//
// `npm run fuzz` (test/fuzz/run.ts) runs each for a million inputs; test/unit/fuzz.test.ts runs a
// bounded slice in every CI run. An input that breaks a property is printed, shrunk, by fast-check:
// it becomes a regression test next to the target's own unit tests.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duplexPair } from 'node:stream';
import fc from 'fast-check';
import { AppController } from '../../app/main/app-controller.ts';
import { AppSettingsStore } from '../../app/main/app-settings.ts';
import { HelperLink } from '../../app/main/helper-link.ts';
import type { Platform } from '../../app/main/platform.ts';
import { Broadcaster } from '../../helper/src/control/broadcaster.ts';
import { serveSession, type Handlers } from '../../helper/src/control/session.ts';
import { parseSetRequest } from '../../helper/src/uapi/protocol.ts';
import { UapiError } from '../../helper/src/uapi/types.ts';
import { parseConfig } from '../../shared/src/config/parse.ts';
import { serializeConfig } from '../../shared/src/config/serialize.ts';
import { encodeFrame, FrameDecoder } from '../../shared/src/control/framing.ts';
import { methods, PROTOCOL_VERSION } from '../../shared/src/control/protocol.ts';
import { ConfigError } from '../../shared/src/errors.ts';
import { invokes } from '../../shared/src/ipc/schema.ts';
import { DevicePair } from '../lib/device-pair.ts';
import {
  encodeFrame as encodeStreamFrame,
  FrameTooLargeError,
  StreamDeframer,
} from '../../helper/src/transport/stream-framing.ts';

export interface FuzzTarget {
  name: string;
  /** A fast-check property over the target's input; async ones are awaited. */
  property(): Promise<fc.IAsyncProperty<[unknown]> | fc.IProperty<[unknown]>>;
}

// ---------------------------------------------------------------------------------------------
// wg-quick files

// Secrets (the private and preshared key) must never appear in an error; a public key may.
const KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PUBLIC = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const PSK = 'FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=';
const VALID_CONFIG = [
  '[Interface]',
  `PrivateKey = ${KEY}`,
  'Address = 192.0.2.1/24, fd00::1/64',
  'DNS = 192.0.2.53, example.test',
  'ListenPort = 51820',
  'MTU = 1420',
  '',
  '[Peer]',
  `PublicKey = ${PUBLIC}`,
  `PresharedKey = ${PSK}`,
  'AllowedIPs = 0.0.0.0/0, ::/0',
  'Endpoint = 203.0.113.1:51820',
  'PersistentKeepalive = 25',
];

/** Lines of a real config, some dropped, duplicated, cut or replaced by noise. */
const configText = fc.oneof(
  fc.string({ maxLength: 400 }),
  // Real configs with lines left out, most of which parse: the round trip gets exercised.
  fc.subarray(VALID_CONFIG).map((lines) => lines.join('\n')),
  fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...VALID_CONFIG) },
        { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
        {
          weight: 2,
          arbitrary: fc
            .tuple(fc.constantFrom(...VALID_CONFIG), fc.nat(80), fc.string({ maxLength: 12 }))
            .map(([line, at, noise]) => line.slice(0, at) + noise + line.slice(at)),
        },
      ),
      { maxLength: 30 },
    )
    .chain((lines) => fc.constantFrom('\n', '\r\n').map((eol) => lines.join(eol))),
);

const wgQuickParser: FuzzTarget = {
  name: 'wg-quick parser',
  property: async () =>
    fc.property(configText, (text) => {
      let config;
      try {
        config = parseConfig(text as string);
      } catch (error) {
        assert.ok(error instanceof ConfigError, `threw ${String(error)}, not a ConfigError`);
        assert.ok(error.line >= 1, 'a config error names its line');
        for (const secret of [KEY, PSK])
          assert.ok(!error.message.includes(secret.slice(0, 20)), 'a config error never quotes a secret');
        return;
      }
      // What parses is written back canonically, and that reads back as the same configuration.
      assert.deepEqual(parseConfig(serializeConfig(config)), config);
    }),
};

// ---------------------------------------------------------------------------------------------
// WireGuard's UAPI (`wg set`)

const SECRET_HEX = 'ab'.repeat(32);
const UAPI_KEYS = [
  'private_key',
  'listen_port',
  'fwmark',
  'replace_peers',
  'public_key',
  'remove',
  'update_only',
  'preshared_key',
  'endpoint',
  'persistent_keepalive_interval',
  'replace_allowed_ips',
  'allowed_ip',
  'protocol_version',
];
const uapiValue = fc.oneof(
  fc.constantFrom(SECRET_HEX, '0', '1', 'true', '51820', '203.0.113.1:51820', '[fd00::1]:1', '10.0.0.0/8'),
  fc.string({ maxLength: 70 }),
);
const uapiLines = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...UAPI_KEYS), uapiValue).map(([k, v]) => `${k}=${v}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
  ),
  { maxLength: 20 },
);

const uapiParser: FuzzTarget = {
  name: 'UAPI set parser',
  property: async () =>
    fc.property(uapiLines, (lines) => {
      try {
        parseSetRequest(lines as string[]);
      } catch (error) {
        assert.ok(error instanceof UapiError, `threw ${String(error)}, not a UapiError`);
        assert.ok(error.errno < 0, 'an errno answer');
        assert.ok(!error.message.includes(SECRET_HEX), 'an error never echoes a key');
      }
    }),
};

// ---------------------------------------------------------------------------------------------
// The control API: framing and dispatch, as a hostile group member would send them

const SETTINGS = { killSwitch: false, allowLan: false, autoConnect: null, metricsPort: null };

/** Handlers that check what reaches them: only params the schema accepts. */
function checkingHandlers(calls: string[]): Handlers {
  return new Proxy({} as Handlers, {
    get: (_target, method: string) => async (params: unknown) => {
      const schema = methods[method as keyof typeof methods];
      assert.ok(schema, `a handler for ${method} was called`);
      assert.ok(schema.params.safeParse(params).success, `${method} got params outside its schema`);
      calls.push(method);
      if (method === 'settings.get') return SETTINGS;
      throw new Error('not in this fuzz target');
    },
  });
}

const frames = fc.array(
  fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    {
      weight: 5,
      arbitrary: fc
        .record({
          jsonrpc: fc.constantFrom('2.0', '1.0', 2),
          id: fc.oneof(fc.nat(), fc.string({ maxLength: 8 }), fc.constant(null)),
          method: fc.oneof(
            fc.constantFrom('hello', 'events.subscribe', ...Object.keys(methods)),
            fc.string(),
          ),
          params: fc.oneof(
            fc.constant({ protocolVersion: PROTOCOL_VERSION, client: 'fuzz' }),
            fc.anything({ maxDepth: 2 }),
          ),
        })
        .map((message) => new Uint8Array(encodeFrame(message))),
    },
    {
      weight: 1,
      // A length prefix that lies.
      arbitrary: fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([length, body]) => {
        const frame = new Uint8Array(4 + body.length);
        new DataView(frame.buffer).setUint32(0, length % 2 ** 32);
        frame.set(body, 4);
        return frame;
      }),
    },
  ),
  { maxLength: 12 },
);

const controlSession: FuzzTarget = {
  name: 'control API framing and dispatch',
  property: async () =>
    fc.asyncProperty(frames, async (input) => {
      const [client, server] = duplexPair();
      const calls: string[] = [];
      serveSession(
        server,
        { uid: 1000, gid: 1000, pid: 1, isRoot: false },
        {
          handlers: checkingHandlers(calls),
          helperVersion: '0.0.0',
          subscribers: new Broadcaster(() => {}),
          log: () => {},
          helloTimeoutMs: 60_000,
        },
      );
      const decoder = new FrameDecoder();
      let answers = 0;
      client.on('data', (chunk: Buffer) => {
        for (const body of decoder.push(chunk)) {
          const reply = JSON.parse(body.toString('utf8')) as { jsonrpc?: string };
          assert.equal(reply.jsonrpc, '2.0', 'every answer is JSON-RPC 2.0');
          answers++;
        }
      });
      for (const frame of input as Uint8Array[]) client.write(frame);
      // Let the session answer what it read (handlers are async), then hang up.
      for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
      client.end();
      server.destroy();
      assert.ok(answers <= (input as Uint8Array[]).length + 1, 'at most one answer per frame');
      assert.ok(server.writableLength < 4 << 20, 'nothing piles up');
    }),
};

// ---------------------------------------------------------------------------------------------
// The app's IPC: what a compromised renderer could send the main process

async function appController(): Promise<{ controller: AppController; platformCalls: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'pm-fuzz-ipc-'));
  const platformCalls: string[] = [];
  // The platform only records: the fuzzing is of the validation before it, and nothing may open a
  // browser or a file dialog here.
  const platform = new Proxy({} as Platform, {
    get: (_target, property: string) => {
      if (property === 'canFixHelper') return false;
      if (property === 'helperHint') return 'Start it.';
      return async () => {
        platformCalls.push(property);
        return null;
      };
    },
  });
  const socketPath = join(dir, 'no-helper.sock');
  const controller = new AppController({
    link: new HelperLink({ socketPath, client: 'fuzz', canFix: false, unavailableHint: 'Start it.' }),
    settings: await AppSettingsStore.open(join(dir, 'settings.json'), () => {}),
    platform,
    version: '0.0.0',
    emit: () => {},
    log: () => {},
  });
  return { controller, platformCalls };
}

const appIpc: FuzzTarget = {
  name: 'app IPC validation',
  property: async () => {
    const { controller } = await appController();
    return fc.asyncProperty(
      fc.tuple(
        fc.oneof(fc.constantFrom(...Object.keys(invokes)), fc.string(), fc.anything({ maxDepth: 1 })),
        fc.anything({ maxDepth: 3 }),
      ),
      async (input) => {
        const [method, params] = input as [unknown, unknown];
        const reply = await controller.invoke(method, params);
        assert.equal(typeof reply.ok, 'boolean', 'every invoke gets a reply');
        if (!reply.ok) assert.equal(typeof reply.error.code, 'string');
        const known = typeof method === 'string' && Object.hasOwn(invokes, method);
        if (!known) assert.equal(reply.ok, false, 'an unknown method never succeeds');
        else if (!invokes[method as keyof typeof invokes].params.safeParse(params).success)
          assert.equal(reply.ok, false, 'params outside the schema never succeed');
      },
    );
  },
};

// ---------------------------------------------------------------------------------------------
// The device: datagrams from the network, as anyone on the path could send them

const deviceDatagrams: FuzzTarget = {
  name: 'device datagram input',
  property: async () => {
    const pair = await DevicePair.create();
    pair.sendFromA();
    pair.sendFromB();
    const valid = pair.sent.map((sent) => sent.packet);
    const peer = pair.peerOfB;
    const keypair = peer.keypairs.current;
    const datagram = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .tuple(fc.constantFrom(...valid), fc.nat(), fc.nat(255), fc.uint8Array({ maxLength: 32 }))
        .map(([packet, at, value, tail]) => {
          const copy = Buffer.concat([packet, tail]);
          copy[at % copy.length] = value;
          return copy;
        }),
    );
    return fc.property(datagram, (input) => {
      const dropped = pair.b.stats.dropped;
      const tun = pair.tunB.length;
      pair.b.receiveDatagram(
        Buffer.from(input as Uint8Array),
        { address: '203.0.113.7', port: 9, family: 4 },
        pair.now,
      );
      // A forged or mutated datagram is dropped and counted; it never reaches the TUN, never
      // changes the session or makes the peer roam to the forger.
      assert.equal(pair.b.stats.dropped, dropped + 1, 'counted as dropped');
      assert.equal(pair.tunB.length, tun);
      assert.equal(peer.keypairs.current, keypair);
      assert.notEqual(peer.endpoint?.address, '203.0.113.7');
    });
  },
};

// ---------------------------------------------------------------------------------------------
// The relay's stream framing: bytes from anyone who can open a TCP connection to a relay

/** The 2-byte framing as the research note states it, decoded the slow, obvious way. */
function referenceDeframe(stream: Uint8Array, max: number): { datagrams: Uint8Array[]; tooLarge: boolean } {
  const datagrams: Uint8Array[] = [];
  let at = 0;
  while (stream.length - at >= 2) {
    const length = stream[at]! * 256 + stream[at + 1]!;
    if (length > max) return { datagrams, tooLarge: true };
    if (stream.length - at - 2 < length) break;
    datagrams.push(stream.slice(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return { datagrams, tooLarge: false };
}

const streamFraming: FuzzTarget = {
  name: 'relay stream framing decoder',
  property: async () =>
    fc.property(
      fc.tuple(
        fc.oneof(
          // Well-framed datagrams, the shape a client sends.
          fc
            .array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 })
            .map((datagrams) => new Uint8Array(Buffer.concat(datagrams.map(encodeStreamFrame)))),
          // Anything at all.
          fc.uint8Array({ maxLength: 600 }),
          // Well-framed datagrams with noise spliced in somewhere.
          fc
            .tuple(
              fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }),
              fc.nat(),
              fc.uint8Array({ maxLength: 8 }),
            )
            .map(([datagrams, at, noise]) => {
              const stream = Buffer.concat(datagrams.map(encodeStreamFrame));
              const cut = at % (stream.length + 1);
              return new Uint8Array(Buffer.concat([stream.subarray(0, cut), noise, stream.subarray(cut)]));
            }),
        ),
        // Where the stream is cut into reads.
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom(65535, 1500, 148, 0),
      ),
      (input) => {
        const [stream, cuts, max] = input as [Uint8Array, number[], number];
        const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points, stream.length]
          .slice(1)
          .map((end, i, ends) => stream.slice(i === 0 ? 0 : ends[i - 1], end));
        const deframer = new StreamDeframer(max);
        const got: Uint8Array[] = [];
        let tooLarge = false;
        for (const chunk of chunks) {
          try {
            deframer.push(chunk, (datagram) => {
              assert.ok(datagram.length <= max, 'no datagram over the bound');
              got.push(Uint8Array.from(datagram));
            });
          } catch (error) {
            assert.ok(error instanceof FrameTooLargeError, `only FrameTooLargeError, not ${String(error)}`);
            tooLarge = true;
            break;
          }
          assert.ok(deframer.buffered <= Math.max(max, 1), 'what it holds stays within the bound');
        }
        const expected = referenceDeframe(stream, max);
        assert.equal(tooLarge, expected.tooLarge, 'refuses exactly when a length is over the bound');
        assert.deepEqual(got, expected.datagrams, 'the datagrams, whatever the reads');
      },
    ),
};

export const TARGETS: FuzzTarget[] = [
  wgQuickParser,
  uapiParser,
  controlSession,
  appIpc,
  deviceDatagrams,
  streamFraming,
];

/** Runs every target for `runs` inputs (from `seed`, when given), reporting each as it finishes. */
export async function fuzz(
  runs: number,
  report: (name: string, runs: number, seconds: number) => void = () => {},
  seed?: number,
): Promise<void> {
  for (const target of TARGETS) {
    const started = performance.now();
    const property = await target.property();
    const parameters = { numRuns: runs, ...(seed === undefined ? {} : { seed }) };
    // fc.assert returns a promise for an async property and nothing for a sync one.
    await (fc.assert as (p: unknown, o: unknown) => Promise<void> | void)(property, parameters);
    report(target.name, runs, (performance.now() - started) / 1000);
  }
}
