// A WireGuard interface with nothing configured yet, what wireguard-go creates: the TUN device, the
// WireGuard device between it and a UDP socket (on a random port until told otherwise), the UAPI
// socket that `wg` talks to, and the data path (reading the TUN and the socket, the timers' wake-ups).
// Keys, peers, addresses and routes come later, from a wg-quick file (apply-config.ts) or from `wg`
// and `ip`.

import type { Endpoint } from '../../../shared/src/ip.ts';
import { openBind, type Bind } from '../conn/bind.ts';
import { openTun, type Tun } from '../tun/tun.ts';
import { serveUapi } from '../uapi/server.ts';
import { DEFAULT_MTU, MAX_MESSAGE_SIZE } from '../wireguard/constants.ts';
import { Device } from '../wireguard/device.ts';
import { warmUpOnce } from '../wireguard/warm-up.ts';
import { TickSchedule } from './tick-schedule.ts';
import { monotonicMs } from '../clock.ts';

/**
 * One slice of the handshake queue: messages are processed until this much time has gone (a valid
 * initiation costs ~1 ms, a cookie reply ~20 µs), then the event loop gets a turn, so that transport
 * data waiting on the socket and the TUN flows between slices.
 */
const HANDSHAKE_SLICE_MS = 1;
const HANDSHAKES_PER_CHECK = 4;

export interface InterfaceOptions {
  name: string;
  log: (line: string) => void;
  /**
   * The link's MTU at creation (default 1420, as wireguard-go's); the device pads to the link's MTU
   * and follows its changes (`ip link set DEV mtu N`, or net/ setting it with the addresses).
   */
  mtu?: number;
  /** Shortens the initiator's rekey age; for tests that watch a rekey happen. */
  rekeyAfterSeconds?: number;
}

type CleanupStep = () => Promise<void> | void;

/** Sends a datagram through the interface's UDP socket. */
export type UdpSend = (packet: Uint8Array, to: Endpoint) => void;

/** Another way out for datagrams (a relay): every datagram goes through it, and it decides. */
export interface Carrier {
  /** Carries `packet` for `to` itself, or hands it (perhaps to another endpoint) to `udp`. */
  send(packet: Uint8Array, to: Endpoint, udp: UdpSend): void;
  /** The interface's fwmark changed (`wg set fwmark`). */
  setFwmark(mark: number): void;
}

export class WireGuardInterface {
  readonly name: string;
  readonly device: Device;
  /** Where `wg` reaches this interface. */
  readonly uapiPath: string;
  /** Resolves with a reason when the interface disappears underneath us. */
  readonly closed: Promise<string>;
  private readonly cleanup: CleanupStep[];
  private readonly log: (line: string) => void;
  private readonly carrierSlot: { carrier: Carrier | null };

  private constructor(
    fields: Pick<WireGuardInterface, 'name' | 'device' | 'uapiPath' | 'closed'> & {
      cleanup: CleanupStep[];
      log: (line: string) => void;
      carrierSlot: { carrier: Carrier | null };
    },
  ) {
    this.name = fields.name;
    this.device = fields.device;
    this.uapiPath = fields.uapiPath;
    this.closed = fields.closed;
    this.cleanup = fields.cleanup;
    this.log = fields.log;
    this.carrierSlot = fields.carrierSlot;
  }

  /** Sends the datagrams `carrier` takes through it from now on (null: all through UDP again). */
  setCarrier(carrier: Carrier | null): void {
    this.carrierSlot.carrier = carrier;
  }

  /** Creates the interface and brings its device up; on any failure, what was done is undone. */
  static async open(options: InterfaceOptions): Promise<WireGuardInterface> {
    const { name, log } = options;
    const now = monotonicMs;
    const cleanup: CleanupStep[] = [];
    try {
      const tun: Tun = openTun(name, { mtu: options.mtu ?? DEFAULT_MTU });
      cleanup.push(() => tun.close());

      let bind: Bind | null = null;
      const carrierSlot: { carrier: Carrier | null } = { carrier: null };
      const udpSend: UdpSend = (packet, to) => bind?.send(packet, to);
      let draining: NodeJS.Immediate | null = null;
      const drainHandshakes = () => {
        draining = null;
        const start = now();
        while (device.processHandshakes(now(), HANDSHAKES_PER_CHECK) > 0) {
          if (now() - start >= HANDSHAKE_SLICE_MS) {
            draining = setImmediate(drainHandshakes);
            return;
          }
        }
      };
      const ticks: TickSchedule = new TickSchedule(
        now,
        (at: number): void => device.tick(at),
        (): number | undefined => device.nextDeadline(),
      );
      cleanup.push(() => ticks.close());
      const device: Device = new Device({
        timerArmed: ticks.armed,
        handshakesWaiting: () => {
          draining ??= setImmediate(drainHandshakes);
        },
        mtu: tun.mtu,
        wallClock: Date.now,
        log: (line) => log(`${name}: ${line}`),
        ...(options.rekeyAfterSeconds ? { rekeyAfterTime: options.rekeyAfterSeconds * 1000 } : {}),
        io: {
          sendDatagram: (packet, to) => {
            if (carrierSlot.carrier) carrierSlot.carrier.send(packet, to, udpSend);
            else bind?.send(packet, to);
          },
          writeTun: (packet) => {
            if (!tun.write(packet)) device.drop('tunWriteFailed');
          },
          setListenPort: async (port) => {
            if (bind && port === bind.port && port !== 0) return port;
            const next = await openBind({
              port,
              fwmark: device.fwmark,
              onDatagram: (packet, from) => device.receiveDatagram(packet, from, now()),
            });
            await bind?.close();
            bind = next;
            return next.port;
          },
          setFwmark: (mark) => {
            bind?.setFwmark(mark);
            carrierSlot.carrier?.setFwmark(mark);
          },
        },
      });
      cleanup.push(() => device.close());
      cleanup.push(() => {
        if (draining) clearImmediate(draining);
      });
      cleanup.push(() => bind?.close());
      // Like wireguard-go's Up: a random port until a configuration names one.
      await device.apply({ listenPort: 0, replacePeers: false, peers: [] }, now());

      const uapi = await serveUapi(name, device, { log });
      cleanup.push(() => uapi.close());

      tun.start(
        (packet) => device.sendPacket(packet, now()),
        (count) => device.stats.drop('tunWriteFailed', count),
        (mtu) => {
          if (device.setMtu(Math.min(mtu, MAX_MESSAGE_SIZE))) log(`${name}: MTU updated: ${mtu}`);
        },
      );
      // The handshake and data path compiled before the first peer's packet (once per process: the
      // first interface pays ~20 ms, the service with no tunnel carries none of it).
      await warmUpOnce();
      device.up(now());
      return new WireGuardInterface({
        name,
        device,
        uapiPath: uapi.path,
        closed: tun.closed,
        cleanup,
        log,
        carrierSlot,
      });
    } catch (error) {
      await runCleanup(cleanup, log);
      throw error;
    }
  }

  /** Has `step` run when the interface closes, before everything added earlier (newest first). */
  onClose(step: CleanupStep): void {
    this.cleanup.push(step);
  }

  /** Takes the interface down and removes everything it and its configuration added, newest first. */
  async close(): Promise<void> {
    await runCleanup(this.cleanup.splice(0), this.log);
  }
}

async function runCleanup(steps: CleanupStep[], log: (line: string) => void): Promise<void> {
  for (const step of steps.reverse()) {
    try {
      await step();
    } catch (error) {
      log(`cleanup: ${(error as Error).message}`);
    }
  }
}
