// `npm run bench:flood`: a keyless handshake flood against a tunnel's UDP port, and what it does to the
// tunnel. Two pairs on the same namespace path: PhantomMesh (a) <-> wireguard-go (b), and wireguard-go
// <-> wireguard-go as the reference. A flooder in the lab's third namespace (c, 203.0.113.1, routed
// through b) sends handshake initiations at a's port as fast as one Node process can, for a bounded
// time, while a pings b's inner address through the tunnel; the round trip and loss are printed for
// both. Modes: random (noise, fails mac1) and mac1 (noise with a valid mac1 for a's public key, which
// an attacker who knows the key can send). Documentation addresses only (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, fd00::/8). Figures only: nothing here passes or fails.
//   npm run bench:flood [-- --seconds 10 --modes random,mac1]

import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { execIn, missingPrerequisites, spawnIn, udpCounter, type Topology } from './lab/netns.ts';
import { INNER, OUR_PORT, startReferencePair, startTunnelPair } from './lab/tunnel-pair.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'random,mac1' },
  },
});
const SECONDS = Math.min(60, Math.max(3, Number(args.seconds)));
const MODES = (args.modes ?? 'random').split(',') as Array<'random' | 'mac1'>;
const PING_INTERVAL_S = 0.01;
const FLOODER = new URL('./lab/flooder.ts', import.meta.url).pathname;
const BUILT_HELPER = new URL('../dist/helper/src/cli/phantommesh-helper.js', import.meta.url).pathname;
/** The flags resources/linux/phantommesh-helper.service starts the helper with. */
const SHIPPED_NODE_OPTIONS = '--max-semi-space-size=1';

interface PingFigures {
  sent: number;
  lossPercent: number;
  avgMs: number;
  maxMs: number;
}

interface Phase {
  label: string;
  ping: PingFigures;
  floodRate: number | null;
  /** Datagrams the kernel dropped at a's full UDP socket during the phase. */
  rcvbufErrors: number;
}

/** Pings b's inner address from a every 10 ms for `seconds`; loss counts replies later than 1 s. */
async function pingFor(ns: string, seconds: number): Promise<PingFigures> {
  const count = Math.round(seconds / PING_INTERVAL_S);
  const output = await execIn(ns, 'ping', [
    '-q',
    '-c',
    String(count),
    '-i',
    String(PING_INTERVAL_S),
    '-W',
    '1',
    INNER.theirs4,
  ]).catch((error: Error & { stdout?: string }) => error.stdout ?? error.message);
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(output);
  const rtt = /= [\d.]+\/([\d.]+)\/([\d.]+)\//.exec(output);
  const sent = Number(counts?.[1] ?? count);
  const received = Number(counts?.[2] ?? 0);
  return {
    sent,
    lossPercent: (100 * (sent - received)) / sent,
    avgMs: Number(rtt?.[1] ?? NaN),
    maxMs: Number(rtt?.[2] ?? NaN),
  };
}

const rcvbufErrors = (ns: string): Promise<number> => udpCounter(ns, 'RcvbufErrors');

async function measure(topology: Topology, label: string, publicKey: string): Promise<Phase[]> {
  const c = topology.c!;
  const target = topology.a.ipv4;
  // Warm up: the handshake, and the first packets' compilation.
  await pingFor(topology.a.ns, 1);
  const phases: Phase[] = [];
  const idleBefore = await rcvbufErrors(topology.a.ns);
  phases.push({
    label: `${label}, idle`,
    ping: await pingFor(topology.a.ns, 3),
    floodRate: null,
    rcvbufErrors: (await rcvbufErrors(topology.a.ns)) - idleBefore,
  });
  for (const mode of MODES) {
    const before = await rcvbufErrors(topology.a.ns);
    const flooder = spawnIn(c.ns, process.execPath, [
      FLOODER,
      target,
      String(OUR_PORT),
      String(SECONDS + 2),
      mode,
      publicKey,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const ping = await pingFor(topology.a.ns, SECONDS);
    await flooder.exited;
    const sent = /\((\d+)\/s\)/.exec(flooder.output());
    phases.push({
      label: `${label}, ${mode} flood`,
      ping,
      floodRate: sent ? Number(sent[1]) : null,
      rcvbufErrors: (await rcvbufErrors(topology.a.ns)) - before,
    });
    // Let the target's queue and the under-load second drain before the next mode.
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  return phases;
}

const reason = missingPrerequisites();
if (reason) {
  console.log(`bench:flood skipped: ${reason}`);
  process.exit(0);
}

console.log(
  `Handshake flood at the tunnel's UDP port for ${SECONDS} s per mode (${MODES.join(', ')}), ping every ${PING_INTERVAL_S * 1000} ms through the tunnel`,
);
const results: Phase[] = [];
const runner = existsSync(BUILT_HELPER) ? BUILT_HELPER : undefined;
console.log(`helper: ${runner ?? 'the TypeScript sources (no dist/: npm run build)'}`);

const ours = await startTunnelPair({
  internet: true,
  ...(runner ? { runner } : {}),
  env: { NODE_OPTIONS: SHIPPED_NODE_OPTIONS },
});
try {
  results.push(...(await measure(ours.topology, 'PhantomMesh', ours.ours.keys.publicKey)));
} finally {
  await ours.destroy();
}
const reference = await startReferencePair({ internet: true, quiet: true });
try {
  results.push(...(await measure(reference.topology, 'wireguard-go', reference.keys.a.publicKey)));
} finally {
  await reference.destroy();
}

console.log('');
console.log(
  `${'target, phase'.padEnd(32)} ${'flood pkt/s'.padStart(11)} ${'pings'.padStart(6)} ${'loss %'.padStart(7)} ${'avg ms'.padStart(8)} ${'max ms'.padStart(8)} ${'socket drops'.padStart(12)}`,
);
for (const phase of results) {
  const { ping } = phase;
  console.log(
    `${phase.label.padEnd(32)} ${String(phase.floodRate ?? '-').padStart(11)} ${String(ping.sent).padStart(6)} ${ping.lossPercent.toFixed(1).padStart(7)} ${ping.avgMs.toFixed(2).padStart(8)} ${ping.maxMs.toFixed(2).padStart(8)} ${String(phase.rcvbufErrors).padStart(12)}`,
  );
}
for (const mode of MODES) {
  const pm = results.find((r) => r.label === `PhantomMesh, ${mode} flood`);
  const wg = results.find((r) => r.label === `wireguard-go, ${mode} flood`);
  if (pm && wg)
    console.log(
      `${mode} flood: round trip ${(pm.ping.avgMs / wg.ping.avgMs).toFixed(2)}x wireguard-go's; loss ${pm.ping.lossPercent.toFixed(1)} % against ${wg.ping.lossPercent.toFixed(1)} %`,
    );
}
