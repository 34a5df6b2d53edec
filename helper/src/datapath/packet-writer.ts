// PacketWriter: hands packets to the writer thread, which makes the write()/sendto() system calls on
// fds this process already has open (fds are process-wide). The main thread only copies each packet
// into shared memory; a profile showed those two calls taking half of its time at full speed, and for
// a TUN write most of that is the kernel running the inner TCP receive path.
//
// One thread serves every TUN and UDP socket of the process: a thread is a whole V8 isolate (measured:
// +12 MB of RSS, +17 MB under type stripping), and with the main thread it already fills both cores
// of the machines we measure on.
//
// The thread only knows rings; what their packets become (TUN writes, UDP sends) is in the module each
// ring's owner names (tun/tun-writer_linux.ts, conn/udp-sender_linux.ts), which the thread imports.
// tun/ and conn/ use this module; it uses neither.

import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { createBell, createRing, ringBell, RingProducer, type RingBuffers, type RingEntry } from './ring.ts';

/** What the writer thread does with a ring's packets: `add` each as it is drained, then `flush`. */
export interface RingHandler {
  add(entry: RingEntry): void;
  flush(): void;
}

/** Makes a ring's handler in the writer thread; `onFailed` counts packets its system calls lost. */
export type RingHandlerFactory = (
  fds: number[],
  onFailed: (errno: number, packets: number) => void,
) => RingHandler;

/** A module that handles rings: what PacketWriter's `handler` names. */
export interface RingHandlerModule {
  createRingHandler: RingHandlerFactory;
}

/** A ring the writer thread is to serve: its handler module's URL and the fds that handler is given. */
export interface WriterRing {
  id: number;
  handler: string;
  fds: number[];
  ring: RingBuffers;
}

export interface WriterSetup {
  bell: Int32Array;
  /** New rings arrive here; the thread polls it, since it sleeps on the bell and not in its event loop. */
  rings: MessagePort;
}

/** What the writer thread reports to the main thread. */
export type WriterReport =
  | { type: 'ready' }
  /** Ring `id`'s handler is loaded: packets pushed now are the thread's to write. */
  | { type: 'accepted'; id: number }
  /** Packets of ring `id` that its system calls lost since the last report, and the last errno. */
  | { type: 'failures'; id: number; failures: number; errno: number }
  /** Ring `id` is drained and stopped: its fds may be closed. */
  | { type: 'done'; id: number };

// 1024 slots: ~2 MB of shared memory per ring, about 10 ms of packets at full speed.
const RING_SLOTS = 1024;
// A packet that comes this long after the one before, with nothing queued, is the caller's to write:
// waking a sleeping thread costs more than the system call, and adds its latency to every ping and
// handshake. Packets of a stream come microseconds apart and keep going through the thread.
const SPARSE_GAP_MS = 1;

const WORKER_YOUNG_MB = 2;
const WORKER_OLD_MB = 32;

/**
 * The URL of module `name` (without its extension) beside the module at `base` (pass import.meta.url):
 * under Node's type stripping modules are .ts files; built, they are .js files.
 */
export function siblingModule(name: string, base: string): string {
  return new URL(`${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base).href;
}

const WORKER_URL = new URL(siblingModule('./writer-worker', import.meta.url));

interface Registration {
  onAccepted: () => void;
  onFailures: (failures: number, errno: number) => void;
  onDone: () => void;
}

class WriterThread {
  readonly bell = createBell();
  /** False until the thread runs, and again once it died: writers then fall back to writing themselves. */
  ready = false;
  /** Resolves once the thread runs, or has died (then writers write themselves). */
  readonly started: Promise<void>;
  #worker: Worker;
  #rings: MessagePort;
  #registered = new Map<number, Registration>();
  /** Rings registered and not yet accepted by the thread. */
  #accepting = new Map<number, Promise<void>>();
  #nextId = 1;
  #stopping = 0;

  constructor() {
    let started!: () => void;
    this.started = new Promise((resolve) => (started = resolve));
    const channel = new MessageChannel();
    this.#rings = channel.port1;
    this.#worker = new Worker(WORKER_URL, {
      workerData: { bell: this.bell, rings: channel.port2 } satisfies WriterSetup,
      transferList: [channel.port2],
      // Its garbage is a few small views per packet; without a cap V8 grows the young generation to
      // tens of MB under a steady allocation rate, which the helper's memory budget cannot afford.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB, maxOldGenerationSizeMb: WORKER_OLD_MB },
    });
    // The thread must not keep the process alive, except while someone waits for a ring to stop.
    this.#worker.unref();
    this.#worker.on('message', (report: WriterReport) => {
      if (report.type === 'ready') {
        this.ready = true;
        started();
      } else if (report.type === 'accepted') this.#registered.get(report.id)?.onAccepted();
      else if (report.type === 'failures')
        this.#registered.get(report.id)?.onFailures(report.failures, report.errno);
      else this.#finish(report.id);
    });
    this.#worker.on('error', (error) => console.error(`packet writer thread failed: ${error.message}`));
    this.#worker.on('exit', () => {
      this.ready = false;
      started();
      for (const id of [...this.#registered.keys()]) this.#finish(id);
    });
  }

  register(
    handler: string,
    fds: number[],
    ring: RingBuffers,
    registration: Omit<Registration, 'onAccepted'>,
    onAccepted: () => void,
  ): number {
    const id = this.#nextId++;
    const accepted = new Promise<void>((resolve) => {
      this.#registered.set(id, {
        ...registration,
        onAccepted: () => {
          this.#accepting.delete(id);
          onAccepted();
          resolve();
        },
      });
    });
    this.#accepting.set(id, accepted);
    this.#rings.postMessage({ id, handler, fds, ring } satisfies WriterRing);
    ringBell(this.bell);
    return id;
  }

  /** Resolves once the thread runs and has every ring registered so far, or has died. */
  async settled(): Promise<void> {
    await this.started;
    await Promise.all(this.#accepting.values());
  }

  /** Keeps the process alive until ring `id` is reported done. */
  awaitingDone(): void {
    if (this.#stopping++ === 0) this.#worker.ref();
  }

  #finish(id: number): void {
    const registration = this.#registered.get(id);
    if (!registration) return;
    this.#registered.delete(id);
    // A ring the thread never took (it died) stops waiting too.
    registration.onAccepted();
    registration.onDone();
    if (--this.#stopping === 0) this.#worker.unref();
  }
}

let thread: WriterThread | undefined;
let deferring = 0;
let deferredWake = false;

/**
 * Runs `batch` with the writer thread's wake-up held back until it ends: whatever the batch queues is
 * then taken in one go, instead of the thread waking for the first packet and sleeping again between
 * the next ones.
 */
export function deferWakeups<T>(batch: () => T): T {
  deferring++;
  try {
    return batch();
  } finally {
    if (--deferring === 0 && deferredWake) {
      deferredWake = false;
      if (thread) ringBell(thread.bell);
    }
  }
}

/**
 * Resolves once the writer thread has started (at once if it has not been started: the first burst of
 * packets starts it, see PacketWriter). Until then writers write on the caller's thread.
 */
export function writerThreadStarted(): Promise<void> {
  return thread?.settled() ?? Promise.resolve();
}

export class PacketWriter {
  #thread: WriterThread | null = null;
  #producer: RingProducer | null = null;
  readonly #handler: string;
  readonly #fds: number[];
  readonly #capacity: number;
  readonly #headroom: number;
  readonly #onFailures: (failures: number, errno: number) => void;
  #stopping = false;
  /** The thread has loaded this ring's handler; until then the caller writes. */
  #accepted = false;
  #lastPush = -Infinity;
  #done: Promise<void> = Promise.resolve();

  /**
   * `handler`: the URL of the module (a RingHandlerModule) that turns the packets into system calls in
   * the thread, given `fds`. `capacity`: the largest packet the ring takes; bigger ones are the caller's
   * to write. `headroom`: zero bytes written in front of every packet (the TUN's virtio_net_hdr).
   *
   * Nothing starts until packets come in bursts: a tunnel that only sees lone packets (keepalives,
   * an idle desktop's odd query) is written by the caller, and the thread (a V8 isolate, ~12 MB) is
   * started by the first burst of any writer (see push).
   */
  constructor(
    handler: string,
    fds: number[],
    capacity: number,
    onFailures: (failures: number, errno: number) => void,
    headroom = 0,
  ) {
    this.#handler = handler;
    this.#fds = fds;
    this.#capacity = capacity;
    this.#headroom = headroom;
    this.#onFailures = onFailures;
  }

  /** Hands this writer's ring to the thread, starting the thread if it is not running yet. */
  #register(): void {
    thread ??= new WriterThread();
    const current = thread;
    this.#thread = current;
    const ring = createRing(RING_SLOTS, this.#capacity, this.#headroom);
    this.#producer = new RingProducer(ring, current.bell);
    let onDone!: () => void;
    this.#done = new Promise((resolve) => (onDone = resolve));
    current.register(
      this.#handler,
      this.#fds,
      ring,
      { onFailures: this.#onFailures, onDone },
      () => (this.#accepted = true),
    );
  }

  /**
   * Queues a copy of the packet. False when the caller has to write it itself: a lone packet after a
   * pause (see SPARSE_GAP_MS), too big, the thread not running (yet: the first burst starts it), the
   * writer stopping, or the ring still full after a short wait.
   */
  push(packet: Uint8Array, family?: number, address?: Uint8Array, port?: number): boolean {
    if (this.#stopping) return false;
    const now = performance.now();
    const sparse = now - this.#lastPush > SPARSE_GAP_MS;
    this.#lastPush = now;
    if (!this.#producer) {
      if (!sparse) this.#register();
      return false;
    }
    if (!this.#thread!.ready || !this.#accepted) return false;
    if (sparse && this.#producer.drained) return false;
    if (deferring > 0) deferredWake = true;
    return this.#producer.push(packet, family, address, port, deferring === 0);
  }

  /** Resolves once the thread has written what was queued and let go of the fds (at once if it never had them). */
  stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.#producer) {
        this.#thread!.awaitingDone();
        this.#producer.stop();
      }
    }
    return this.#done;
  }
}
