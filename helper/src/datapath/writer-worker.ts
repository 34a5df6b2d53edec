// The writer thread (see packet-writer.ts): drains every registered ring into system calls and sleeps on the
// shared bell when all are empty. What a ring's packets become is up to the module its owner named
// (WriterRing.handler: tun/tun-writer_linux.ts, conn/udp-sender_linux.ts), imported here by URL the
// first time a ring names it; so datapath/ stays below tun/ and conn/ and imports neither.

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { RingConsumer, type RingEntry } from './ring.ts';
import type {
  RingHandler,
  RingHandlerModule,
  WriterReport,
  WriterRing,
  WriterSetup,
} from './packet-writer.ts';

// Failures are reported in batches, at most this often per ring, so a dead link cannot flood the main thread.
const REPORT_INTERVAL_MS = 1000;

const report = (message: WriterReport) => parentPort!.postMessage(message);

class Served {
  readonly consumer: RingConsumer;
  readonly handle: (entry: RingEntry) => void;
  isDone = false;
  #id: number;
  #failures = 0;
  #errno = 0;
  #lastReport = -Infinity;
  #handler: RingHandler;

  constructor(setup: WriterRing, module: RingHandlerModule) {
    this.#id = setup.id;
    this.consumer = new RingConsumer(setup.ring);
    this.#handler = module.createRingHandler(setup.fds, (errno, packets) => this.#failed(errno, packets));
    const handler = this.#handler;
    this.handle = (entry) => handler.add(entry);
  }

  /** Writes or sends what the last drain gathered. */
  afterDrain(): void {
    this.#handler.flush();
  }

  #failed(errno: number, packets = 1): void {
    this.#failures += packets;
    this.#errno = errno;
    this.flush(false);
  }

  flush(force: boolean): void {
    const now = performance.now();
    if (this.#failures === 0 || (!force && now - this.#lastReport < REPORT_INTERVAL_MS)) return;
    report({ type: 'failures', id: this.#id, failures: this.#failures, errno: this.#errno });
    this.#failures = 0;
    this.#lastReport = now;
  }

  /** Reports the ring drained and stopped; returns true for the caller's bookkeeping. */
  done(): true {
    this.flush(true);
    report({ type: 'done', id: this.#id });
    this.isDone = true;
    return true;
  }
}

const { bell, rings: incoming } = workerData as WriterSetup;
let served: Served[] = [];
const modules = new Map<string, RingHandlerModule>();
/** Rings whose handler module is not imported yet. */
let waiting: WriterRing[] = [];

function accept(setup: WriterRing, module: RingHandlerModule): void {
  served.push(new Served(setup, module));
  report({ type: 'accepted', id: setup.id });
}

function acceptNewRings(): boolean {
  let accepted = false;
  for (let message = receiveMessageOnPort(incoming); message; message = receiveMessageOnPort(incoming)) {
    const setup = message.message as WriterRing;
    const module = modules.get(setup.handler);
    if (module) accept(setup, module);
    else waiting.push(setup);
    accepted = true;
  }
  return accepted;
}

async function importWaiting(): Promise<void> {
  const rings = waiting;
  waiting = [];
  for (const setup of rings) {
    let module = modules.get(setup.handler);
    if (!module) {
      module = (await import(setup.handler)) as RingHandlerModule;
      modules.set(setup.handler, module);
    }
    accept(setup, module);
  }
}

report({ type: 'ready' });
for (;;) {
  acceptNewRings();
  if (waiting.length > 0) await importWaiting();
  let handled = 0;
  for (const ring of served) {
    handled += ring.consumer.drain(ring.handle);
    ring.afterDrain();
  }
  let anyDone = false;
  for (const ring of served) if (ring.consumer.finished) anyDone = ring.done();
  // Dropped by the flag done() set, not by looking again: a ring that finished in between would be
  // dropped unreported, and its owner would wait forever.
  if (anyDone) served = served.filter((ring) => !ring.isDone);
  if (handled > 0) continue;
  // Announce the sleep, then look again: a producer that queued before seeing the flag is caught by
  // this second look (both sides use sequentially consistent atomics).
  Atomics.store(bell, 0, 1);
  if (!acceptNewRings() && served.every((ring) => ring.consumer.empty && !ring.consumer.finished))
    Atomics.wait(bell, 0, 1);
  Atomics.store(bell, 0, 0);
}
