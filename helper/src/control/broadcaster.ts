// The control connections that asked for events (events.subscribe), and sending events to them:
// checked against the protocol, encoded once, written to each without waiting for any of them.

import type { Writable } from 'node:stream';
import { encodeFrame } from '../../../shared/src/control/framing.ts';
import { describeIssues, EVENT_METHOD, HelperEvent } from '../../../shared/src/control/protocol.ts';

/** A subscriber this far behind is not reading its events; it is dropped rather than buffered. */
export const MAX_EVENT_BACKLOG_BYTES = 4 * 1024 * 1024;

export class Broadcaster {
  private readonly subscribers = new Set<Writable>();
  private readonly log: (line: string) => void;

  constructor(log: (line: string) => void) {
    this.log = log;
  }

  add(stream: Writable): void {
    this.subscribers.add(stream);
  }

  delete(stream: Writable): void {
    this.subscribers.delete(stream);
  }

  /** Sends to every subscriber without waiting for any of them. */
  broadcast(event: HelperEvent): void {
    if (this.subscribers.size === 0) return;
    const checked = HelperEvent.safeParse(event);
    if (!checked.success) {
      this.log(`control: not sending an event outside the protocol: ${describeIssues(checked.error)}`);
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame({ jsonrpc: '2.0', method: EVENT_METHOD, params: checked.data });
    } catch (error) {
      this.log(`control: cannot send a ${event.type} event: ${(error as Error).message}`);
      return;
    }
    let dropped = 0;
    for (const stream of this.subscribers) {
      if (stream.writableLength > MAX_EVENT_BACKLOG_BYTES) {
        this.subscribers.delete(stream);
        stream.destroy();
        dropped++;
        continue;
      }
      stream.write(frame);
    }
    // Logged after the loop: the daemon broadcasts its log lines, so this may call broadcast again.
    if (dropped > 0)
      this.log(
        `control: dropping ${dropped} subscriber(s) not reading (over ${MAX_EVENT_BACKLOG_BYTES} bytes waiting)`,
      );
  }
}
