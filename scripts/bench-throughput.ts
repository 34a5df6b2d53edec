// `npm run bench:throughput`: issue 5's measurement. The same namespace path (two namespaces, one
// veth pair, the same keys and inner addresses) carries iperf3 TCP through PhantomMesh <-> wireguard-go
// and through wireguard-go <-> wireguard-go, alternating, so that both see the same machine load; the
// medians and their ratio are printed, and the drop-in (`phantommesh-helper -f IFNAME` set up by wg
// and ip in wireguard-go's place) against the `tunnel` runner. For both ends: handshake time and
// latency added over the bare veth (median of 100 pings each way, 100 ms apart, and also 20 and 5 ms
// apart), and the same latency through lab/bare-forwarder.ts at both ends (the runtime's floor: no
// protocol); for PhantomMesh also the helper's peak RSS and CPU time, and RSS across a soak at full
// speed; per round, how many datagrams the receiving wireguard-go dropped at its socket during the
// upload (what bounds the upstream ratio here). Figures only: nothing here passes or fails.
//
//   node scripts/bench-throughput.ts [--rounds 2] [--seconds 5] [--soak 60] [--helper-node-options '...']
//                                    [--json FILE]   (the figures, for bench.ts's summary of targets)
//
// The helper runs as it is shipped: the built dist/ (npm run build) bundled as the package bundles it
// (scripts/bundle-helper.ts), with the Node flags of the systemd unit (--max-semi-space-size=1). --helper-node-options replaces those flags (e.g. '' to see
// V8's defaults); without dist/ the TypeScript sources run, which costs ~23 MB more for the type
// stripper.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  createTopology,
  execIn,
  iperf3Client,
  iperf3Server,
  median,
  missingPrerequisites,
  ping,
  startWireguardGo,
  udpCounter,
  uniqueName,
  type KeyPair,
  type Topology,
} from './lab/netns.ts';
import { INNER, OUR_PORT, startTunnelPair, THEIR_PORT } from './lab/tunnel-pair.ts';
import { startBareForwarders } from './lab/bare-forwarder-pair.ts';
import { shippedHelper } from './bundle-helper.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '5' },
    soak: { type: 'string', default: '60' },
    'helper-node-options': { type: 'string' },
    json: { type: 'string' },
  },
});
const BUILT_HELPER = new URL('../dist/helper/src/cli/phantommesh-helper.js', import.meta.url).pathname;
/** The flags resources/linux/phantommesh-helper.service starts the helper with. */
const SHIPPED_NODE_OPTIONS = '--max-semi-space-size=1';
const HELPER = {
  env: { NODE_OPTIONS: args['helper-node-options'] ?? SHIPPED_NODE_OPTIONS },
  ...(existsSync(BUILT_HELPER) ? { runner: await shippedHelper() } : {}),
};
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const SOAK_SECONDS = Number(args.soak);
/** Issue 17 measures latency as the median of 100 pings, through the tunnel and over the bare link. */
const PINGS = 100;
const PING_INTERVAL = 0.1;
/** Also measured closer together: what running cold costs, against the work per packet (see the doc). */
const CLOSER_INTERVALS = [0.02, 0.005];
// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every architecture we build for.
const USER_HZ = 100;

const reason = missingPrerequisites();
if (reason) {
  console.log(`bench:throughput skipped: ${reason}`);
  process.exit(0);
}

// ---- the helper process, seen through /proc

interface ProcSample {
  rssMb: number;
  peakRssMb: number;
  cpuSeconds: number;
}

function sample(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) / 1024;
  // Fields after the command name (which may contain spaces) start at the state, field 3; utime and
  // stime are fields 14 and 15 and cover every thread of the process.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMb: kb('VmRSS'), peakRssMb: kb('VmHWM'), cpuSeconds: ticks / USER_HZ };
}

// ---- one measured side

interface Throughput {
  up: number;
  down: number;
  /** Datagrams the receiving end (wireguard-go in namespace b) dropped at its socket during the upload. */
  receiverDropsUp: number;
  /** The receive buffer of that end's UDP socket, in bytes (what it holds before it drops). */
  receiverBuffer: number;
}

/**
 * The largest receive buffer of the UDP sockets in `ns` (`ss -uam`'s skmem rb). Debian's wireguard-go
 * (0.0.20220316) leaves its socket at net.core.rmem_default, 208 KiB here: ~90 datagrams, which is
 * what limits upstream (docs/performance.md); wireguard-go since 2023 asks for 7 MiB itself.
 */
async function receiveBuffer(ns: string): Promise<number> {
  const sizes = [...(await execIn(ns, 'ss', ['-uamn'])).matchAll(/\brb(\d+)/g)].map((m) => Number(m[1]));
  return Math.max(0, ...sizes);
}

/** UDP datagrams dropped for a full receive buffer in `ns` so far. */
const socketDrops = (ns: string): Promise<number> => udpCounter(ns, 'RcvbufErrors');

async function iperfBothWays(topology: Topology): Promise<Throughput> {
  const server = await iperf3Server(topology.b.ns);
  try {
    const dropsBefore = await socketDrops(topology.b.ns);
    const up = await iperf3Client(topology.a.ns, INNER.theirs4, { seconds: SECONDS });
    const receiverDropsUp = (await socketDrops(topology.b.ns)) - dropsBefore;
    const receiverBuffer = await receiveBuffer(topology.b.ns);
    const down = await iperf3Client(topology.a.ns, INNER.theirs4, { seconds: SECONDS, reverse: true });
    return { up: up / 1e6, down: down / 1e6, receiverDropsUp, receiverBuffer };
  } finally {
    await server.stop();
  }
}

/**
 * The first ping through a fresh tunnel waits for the handshake: the initiator sends the initiation,
 * gets the response and sends the ping itself as the confirming first transport message. Its round
 * trip minus that of the established tunnel is the handshake time, measured on the wire.
 */
async function handshakeAndLatency(
  topology: Topology,
): Promise<{ handshakeMs: number; latencyMs: number; closerLatencyMs: number[] }> {
  const first = await ping(topology.a.ns, INNER.theirs4, { count: 1 });
  const { tunnelMs, addedMs } = await latencyAdded(topology, PING_INTERVAL);
  const closerLatencyMs: number[] = [];
  for (const interval of CLOSER_INTERVALS)
    closerLatencyMs.push((await latencyAdded(topology, interval)).addedMs);
  return { handshakeMs: first.avgMs - tunnelMs, latencyMs: addedMs, closerLatencyMs };
}

/** Median round trip through the tunnel, and that minus the bare link's, pinging `interval` s apart. */
async function latencyAdded(
  topology: Topology,
  interval: number,
): Promise<{ tunnelMs: number; addedMs: number }> {
  const bare = await ping(topology.a.ns, topology.b.ipv4, { count: PINGS, interval });
  const tunnel = await ping(topology.a.ns, INNER.theirs4, { count: PINGS, interval });
  return { tunnelMs: tunnel.medianMs, addedMs: tunnel.medianMs - bare.medianMs };
}

/**
 * Latency added, at each interval, by lab/bare-forwarder.ts at both ends: Node, koffi's poll and the
 * helper's ChaCha20-Poly1305 through OpenSSL, with no WireGuard protocol. The floor that the runtime
 * sets a lone packet, to read the two tunnels' figures against.
 */
async function floorLatency(): Promise<number[]> {
  const topology = await createTopology();
  try {
    await startBareForwarders(topology);
    await ping(topology.a.ns, INNER.theirs4, { count: 1 });
    const added: number[] = [];
    for (const interval of [PING_INTERVAL, ...CLOSER_INTERVALS])
      added.push((await latencyAdded(topology, interval)).addedMs);
    return added;
  } finally {
    await topology.destroy();
  }
}

interface Round {
  throughput: Throughput;
  handshakeMs: number;
  latencyMs: number;
  /** Latency added with pings CLOSER_INTERVALS apart. */
  closerLatencyMs: number[];
  /** CPU time of the end in namespace a (the helper, or the wireguard-go that stands in for it). */
  cpuSeconds: number;
  helper?: { peakRssMb: number };
}

/** CPU seconds per gigabyte moved, so that the two ends' efficiency compares across speeds. */
const cpuPerGigabyte = (round: Round) =>
  round.cpuSeconds / (((round.throughput.up + round.throughput.down) * SECONDS) / 8 / 1000);

async function measuredThroughput(topology: Topology, pid: number) {
  const before = sample(pid);
  const throughput = await iperfBothWays(topology);
  const after = sample(pid);
  return { throughput, cpuSeconds: after.cpuSeconds - before.cpuSeconds, peakRssMb: after.peakRssMb };
}

async function phantomRound(): Promise<Round & { keys: { ours: KeyPair; theirs: KeyPair } }> {
  const pair = await startTunnelPair(HELPER);
  try {
    const pid = pair.ours.process.child.pid!;
    const { handshakeMs, latencyMs, closerLatencyMs } = await handshakeAndLatency(pair.topology);
    const { throughput, cpuSeconds, peakRssMb } = await measuredThroughput(pair.topology, pid);
    return {
      throughput,
      handshakeMs,
      latencyMs,
      closerLatencyMs,
      cpuSeconds,
      helper: { peakRssMb },
      keys: { ours: pair.ours.keys, theirs: pair.theirs.keys },
    };
  } finally {
    await pair.destroy();
  }
}

/**
 * wireguard-go at both ends, with the keys, ports and addresses the PhantomMesh round used; with
 * `ourProgram`, that program at our end instead, driven by wg and ip as wireguard-go is (the drop-in).
 */
async function referenceRound(
  keys: { ours: KeyPair; theirs: KeyPair },
  ourProgram?: readonly string[],
): Promise<Round> {
  const topology = await createTopology();
  try {
    await startWireguardGo(topology.b.ns, uniqueName('pmr'), {
      privateKey: keys.theirs.privateKey,
      listenPort: THEIR_PORT,
      addresses: [`${INNER.theirs4}/24`, `${INNER.theirs6}/64`],
      peers: [{ publicKey: keys.ours.publicKey, allowedIps: [`${INNER.ours4}/32`, `${INNER.ours6}/128`] }],
    });
    const ourEnd = await startWireguardGo(topology.a.ns, uniqueName('pmr'), {
      ...(ourProgram ? { program: ourProgram, env: HELPER.env } : {}),
      privateKey: keys.ours.privateKey,
      listenPort: OUR_PORT,
      addresses: [`${INNER.ours4}/24`, `${INNER.ours6}/64`],
      peers: [
        {
          publicKey: keys.theirs.publicKey,
          endpoint: `${topology.b.ipv4}:${THEIR_PORT}`,
          allowedIps: ['192.0.2.0/24', 'fd00:6::/64', '203.0.113.0/24'],
        },
      ],
    });
    const { handshakeMs, latencyMs, closerLatencyMs } = await handshakeAndLatency(topology);
    const { throughput, cpuSeconds } = await measuredThroughput(topology, ourEnd.process.child.pid!);
    return { throughput, handshakeMs, latencyMs, closerLatencyMs, cpuSeconds };
  } finally {
    await topology.destroy();
  }
}

export interface Soak {
  seconds: number;
  mbits: number;
  samplesMb: number[];
  idleMb: number;
  peakMb: number;
  growthMb: number;
  /** The second half's highest sample minus the first half's: V8 collects old garbage late, so RSS
   *  climbs and falls back in steps; what would show a leak is the ceiling still rising. */
  trendMb: number;
  afterMb: number;
}

/** RSS of a helper carrying iperf3 for `seconds`, sampled every 5 s, then after 5 s idle. */
async function soak(seconds: number): Promise<Soak> {
  const pair = await startTunnelPair(HELPER);
  try {
    const pid = pair.ours.process.child.pid!;
    await ping(pair.topology.a.ns, INNER.theirs4, { count: 1 });
    const idle = sample(pid);
    const server = await iperf3Server(pair.topology.b.ns);
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(sample(pid).rssMb), 5000);
    let mbits: number;
    try {
      mbits = (await iperf3Client(pair.topology.a.ns, INNER.theirs4, { seconds })) / 1e6;
    } finally {
      clearInterval(sampler);
      await server.stop();
    }
    const busy = sample(pid);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const after = sample(pid);
    const first = samples[0] ?? busy.rssMb;
    const last = samples.at(-1) ?? busy.rssMb;
    const half = Math.ceil(samples.length / 2);
    const ceiling = (part: number[]) => (part.length > 0 ? Math.max(...part) : busy.rssMb);
    const trend = ceiling(samples.slice(half)) - ceiling(samples.slice(0, half));
    console.log(`\nSoak: ${seconds} s of iperf3 up through PhantomMesh (${mbits.toFixed(0)} Mbit/s)`);
    console.log(`  RSS every 5 s (MB):    ${samples.map((mb) => mb.toFixed(0)).join(' ')}`);
    console.log(`  RSS idle before:       ${idle.rssMb.toFixed(1)} MB`);
    console.log(`  peak RSS:              ${busy.peakRssMb.toFixed(1)} MB`);
    console.log(`  growth first -> last:  ${(last - first).toFixed(1)} MB`);
    console.log(`  highest sample, second half minus first half: ${trend.toFixed(1)} MB`);
    console.log(`  RSS 5 s after:         ${after.rssMb.toFixed(1)} MB`);
    console.log(`  helper CPU time:       ${(busy.cpuSeconds - idle.cpuSeconds).toFixed(1)} s`);
    return {
      seconds,
      mbits,
      samplesMb: samples,
      idleMb: idle.rssMb,
      peakMb: busy.peakRssMb,
      growthMb: last - first,
      trendMb: trend,
      afterMb: after.rssMb,
    };
  } finally {
    await pair.destroy();
  }
}

// ---- the run

const fixed = (value: number, digits = 0, width = 6) => value.toFixed(digits).padStart(width);

console.log(
  `helper: ${HELPER.runner ?? 'the TypeScript sources (no dist/: npm run build)'}, NODE_OPTIONS=${HELPER.env.NODE_OPTIONS}`,
);
console.log(`TCP throughput, iperf3 ${SECONDS} s up then ${SECONDS} s down, ${ROUNDS} alternating rounds`);
const ours: Round[] = [];
const reference: Round[] = [];
const dropin: Round[] = [];
const floor: number[][] = [];
// The drop-in (`phantommesh-helper -f IFNAME` driven by wg and ip): the same data path as `tunnel`.
const DROPIN = [
  process.execPath,
  HELPER.runner ?? new URL('../helper/src/cli/phantommesh-helper.ts', import.meta.url).pathname,
];
for (let round = 1; round <= ROUNDS; round++) {
  const phantom = await phantomRound();
  ours.push(phantom);
  reference.push(await referenceRound(phantom.keys));
  dropin.push(await referenceRound(phantom.keys, DROPIN));
  floor.push(await floorLatency());
  const ratio = (field: keyof Throughput) => phantom.throughput[field] / reference.at(-1)!.throughput[field];
  console.log(
    `  round ${round}: PhantomMesh up ${fixed(phantom.throughput.up)} down ${fixed(phantom.throughput.down)}` +
      `   wireguard-go up ${fixed(reference.at(-1)!.throughput.up)} down ${fixed(reference.at(-1)!.throughput.down)}` +
      `   ratio ${ratio('up').toFixed(2)} / ${ratio('down').toFixed(2)}` +
      `   CPU s/GB ${cpuPerGigabyte(phantom).toFixed(1)} vs ${cpuPerGigabyte(reference.at(-1)!).toFixed(1)}` +
      `   helper peak RSS ${phantom.helper!.peakRssMb.toFixed(0)} MB` +
      `   receiver's socket drops up ${phantom.throughput.receiverDropsUp} vs ${reference.at(-1)!.throughput.receiverDropsUp}` +
      ` (its receive buffer ${(phantom.throughput.receiverBuffer / 1024).toFixed(0)} KiB)`,
  );
}

/** One end's medians over the rounds. */
export interface Summary {
  label: string;
  up: number;
  down: number;
  handshake: number;
  latency: number;
  /** Latency added with pings CLOSER_INTERVALS apart. */
  closerLatency: number[];
  cpu: number;
}

/** Latency added by lab/bare-forwarder.ts at both ends, pings PING_INTERVAL then CLOSER_INTERVALS apart. */
export type FloorLatency = number[];

/** What --json writes (bench.ts reads it for its summary of targets). */
export interface ThroughputFigures {
  ours: Summary;
  reference: Summary;
  dropin: Summary;
  floor: FloorLatency;
  peakRssMb: number;
  soak: Soak | null;
}

const med = (rounds: Round[], pick: (round: Round) => number) => median(rounds.map(pick));
const summary = (label: string, rounds: Round[]): Summary => ({
  label,
  up: med(rounds, (r) => r.throughput.up),
  down: med(rounds, (r) => r.throughput.down),
  handshake: med(rounds, (r) => r.handshakeMs),
  latency: med(rounds, (r) => r.latencyMs),
  closerLatency: CLOSER_INTERVALS.map((_, i) => med(rounds, (r) => r.closerLatencyMs[i]!)),
  cpu: med(rounds, cpuPerGigabyte),
});
const a = summary('PhantomMesh <-> wireguard-go', ours);
const b = summary('wireguard-go <-> wireguard-go', reference);
const c = summary('drop-in (wg, ip) <-> wireguard-go', dropin);
console.log(
  '\nMedians                          Mbit/s up  Mbit/s down  handshake ms  latency added ms  CPU s/GB (side a)',
);
for (const s of [a, b, c])
  console.log(
    `  ${s.label.padEnd(30)} ${fixed(s.up, 0, 10)}  ${fixed(s.down, 0, 11)}  ${fixed(s.handshake, 2, 12)}  ${fixed(s.latency, 3, 16)}  ${fixed(s.cpu, 1, 17)}`,
  );
console.log(
  `  ratio PhantomMesh / wireguard-go: up ${(a.up / b.up).toFixed(2)}   down ${(a.down / b.down).toFixed(2)}`,
);
console.log(
  `  ratio drop-in / tunnel:           up ${(c.up / a.up).toFixed(2)}   down ${(c.down / a.down).toFixed(2)}`,
);
const intervals = [PING_INTERVAL, ...CLOSER_INTERVALS].map((interval) => interval * 1000).join(' / ');
const floorMedians = floor[0]!.map((_, i) => median(floor.map((round) => round[i]!)));
for (const [label, figures] of [
  [a.label, [a.latency, ...a.closerLatency]],
  [b.label, [b.latency, ...b.closerLatency]],
  ["bare forwarder at both ends, no protocol (the runtime's floor)", floorMedians],
] as const)
  console.log(
    `  latency added, pings ${intervals} ms apart, ${label}: ${figures.map((ms) => ms.toFixed(3)).join(' / ')} ms`,
  );
const peak = Math.max(...ours.map((r) => r.helper!.peakRssMb));
const cpu = ours.map((r) => r.cpuSeconds);
console.log(
  `  helper: peak RSS ${peak.toFixed(1)} MB, CPU time per round (${2 * SECONDS} s of traffic) ${cpu.map((s) => s.toFixed(1)).join(', ')} s`,
);

const soaked = SOAK_SECONDS > 0 ? await soak(SOAK_SECONDS) : null;
if (args.json)
  writeFileSync(
    args.json,
    JSON.stringify({
      ours: a,
      reference: b,
      dropin: c,
      floor: floorMedians,
      peakRssMb: peak,
      soak: soaked,
    } satisfies ThroughputFigures),
  );
