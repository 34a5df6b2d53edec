// `npm run bench:service` (and part of `npm run bench`): the helper service with the unit's Node flags,
// for the figures a desktop user notices besides throughput: time from start to READY, and memory with
// no tunnel and with one idle tunnel to wireguard-go. Twice: as it is shipped (dist/ bundled by
// rolldown as the package does, scripts/bundle-helper.ts) and as `npm start` and the tests run it
// (dist/, one ES module per file). RSS is
// printed with its two parts from /proc/PID/status (RssFile, RssAnon): file-backed pages (mostly the Node binary's
// own code, clean, shared with every other Node process and reclaimable by the kernel) and anonymous
// memory (the helper's heap, code and buffers). Figures only: nothing here passes or fails.
//   npm run bench:service [-- --starts 5 --idle 10 --json FILE]

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { shippedHelper } from './bundle-helper.ts';
import { connectHelper } from '../shared/src/control/client.ts';
import {
  createTopology,
  genKeyPair,
  median,
  missingPrerequisites,
  ping,
  spawnIn,
  startWireguardGo,
  uniqueName,
} from './lab/netns.ts';
import { INNER, ourConfigText, THEIR_PORT } from './lab/tunnel-pair.ts';

const { values: args } = parseArgs({
  options: {
    starts: { type: 'string', default: '5' },
    idle: { type: 'string', default: '10' },
    /** Where to write the figures for bench.ts's summary of targets. */
    json: { type: 'string' },
  },
});
const STARTS = Math.max(1, Number(args.starts));
const IDLE_SECONDS = Math.max(4, Number(args.idle));
const BUILT_HELPER = new URL('../dist/helper/src/cli/phantommesh-helper.js', import.meta.url).pathname;
/** The flags resources/linux/phantommesh-helper.service starts the helper with. */
const SHIPPED_NODE_OPTIONS = ['--max-semi-space-size=1'];

export interface Memory {
  rss: number;
  anon: number;
  file: number;
}

function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** Context switches of all the process's threads so far: each is a wake-up (or a preemption). */
function switchesOf(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
    for (const key of ['voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches'])
      total += Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  }
  return total;
}

/** Sleeps `seconds` and says how often the idle process woke meanwhile, per second. */
async function idleWakeups(pid: number, seconds: number): Promise<number> {
  const before = switchesOf(pid);
  await sleep(seconds * 1000);
  return (switchesOf(pid) - before) / seconds;
}

const mb = (memory: Memory) =>
  `${memory.rss.toFixed(1)} MB (anonymous ${memory.anon.toFixed(1)}, file-backed ${memory.file.toFixed(1)})`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const reason = missingPrerequisites() ?? (existsSync(BUILT_HELPER) ? undefined : 'no dist/ (npm run build)');
if (reason) {
  console.log(`Service: skipped, ${reason}`);
  process.exit(0);
}

const HELPERS = [
  {
    label: 'as shipped (dist/ bundled, as in the package)',
    key: 'shipped',
    entry: await shippedHelper(),
  },
  { label: 'unbundled (dist/, as npm start and the tests run it)', key: 'dist', entry: BUILT_HELPER },
] as const;

interface ServiceFigures {
  readyMs: number;
  idle: Memory;
  oneTunnel: Memory;
}

/** What --json writes (bench.ts reads it for its summary of targets). */
export interface ServiceReport {
  shipped: ServiceFigures;
  dist: ServiceFigures;
  bare: Memory;
}

const topology = await createTopology();
const dir = await mkdtemp(join(tmpdir(), 'pm-bench-service-'));
const figures: Partial<Record<(typeof HELPERS)[number]['key'], ServiceFigures>> = {};
try {
  for (const { label, key, entry } of HELPERS) {
    console.log(`Helper service ${label}, ${SHIPPED_NODE_OPTIONS.join(' ')}`);
    figures[key] = await measure(entry, key);
  }
  const bare = spawnIn(topology.a.ns, process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  await sleep(1000);
  const bareMemory = memoryOf(bare.child.pid!);
  console.log(`For comparison, a bare Node process (node -e): ${mb(bareMemory)}`);
  await bare.stop();
  if (args.json)
    writeFileSync(
      args.json,
      JSON.stringify({
        shipped: figures.shipped!,
        dist: figures.dist!,
        bare: bareMemory,
      } satisfies ServiceReport),
    );
} finally {
  await topology.destroy();
  await rm(dir, { recursive: true, force: true });
}

async function measure(entry: string, key: string): Promise<ServiceFigures> {
  const start = async (run: number) => {
    const began = performance.now();
    const helper = spawnIn(topology.a.ns, process.execPath, [
      ...SHIPPED_NODE_OPTIONS,
      entry,
      'serve',
      ...['--socket', join(dir, `${key}${run}.sock`), '--state-dir', join(dir, `${key}-state${run}`)],
    ]);
    await helper.waitForLine(/is ready/, 15_000);
    return { helper, readyMs: performance.now() - began };
  };

  const readies: number[] = [];
  for (let run = 0; run < STARTS; run++) {
    const { helper, readyMs } = await start(run);
    readies.push(readyMs);
    await helper.stop();
  }
  console.log(
    `  start to READY (spawn to the ready line), ${STARTS} starts: median ${median(readies).toFixed(0)} ms ` +
      `(${readies.map((ms) => ms.toFixed(0)).join(', ')})`,
  );

  const { helper } = await start(STARTS);
  try {
    const pid = helper.child.pid!;
    await sleep(2000);
    const idleWakes = await idleWakeups(pid, IDLE_SECONDS - 2);
    const idle = memoryOf(pid);
    console.log(`  RSS idle, no tunnel, after ${IDLE_SECONDS} s: ${mb(idle)}`);
    console.log(`  wake-ups idle, no tunnel: ${idleWakes.toFixed(1)} a second (all threads)`);

    const [ours, theirs] = await Promise.all([genKeyPair(), genKeyPair()]);
    const peer = await startWireguardGo(topology.b.ns, uniqueName('pmbs'), {
      privateKey: theirs.privateKey,
      listenPort: THEIR_PORT,
      addresses: [`${INNER.theirs4}/24`],
      peers: [{ publicKey: ours.publicKey, allowedIps: [`${INNER.ours4}/32`] }],
      quiet: true,
    });
    const client = await connectHelper({ socketPath: join(dir, `${key}${STARTS}.sock`), client: 'bench' });
    try {
      const name = uniqueName('pmbs');
      await client.call('tunnels.import', {
        name,
        text: ourConfigText({
          privateKey: ours.privateKey,
          peerPublicKey: theirs.publicKey,
          endpoint: `${topology.b.ipv4}:${THEIR_PORT}`,
        }),
      });
      await client.call('tunnels.connect', { name });
      await ping(topology.a.ns, INNER.theirs4, { count: 3 });
      await sleep(2000);
      const tunnelWakes = await idleWakeups(pid, IDLE_SECONDS - 2);
      const oneTunnel = memoryOf(pid);
      console.log(`  RSS with one idle tunnel, after ${IDLE_SECONDS} s: ${mb(oneTunnel)}`);
      console.log(
        `  wake-ups with one idle tunnel and a client connected: ${tunnelWakes.toFixed(1)} a second ` +
          '(all threads; the service sends connected clients stats once a second)',
      );
      await client.call('tunnels.disconnect', {});
      return { readyMs: median(readies), idle, oneTunnel };
    } finally {
      client.close();
      await peer.stop();
    }
  } finally {
    await helper.stop();
  }
}
