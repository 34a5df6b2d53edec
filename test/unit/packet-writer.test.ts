import assert from 'node:assert/strict';
import test from 'node:test';
import {
  batchWrites,
  batchWritesOfThisTask,
  PacketWriter,
  type OutgoingPacket,
  type PacketHandler,
} from '../../helper/src/datapath/packet-writer.ts';

/** A handler that records what it is given (copied: the views are only valid during the call). */
class Recorder implements PacketHandler {
  added: Array<{ packet: Buffer; family: number; address: Buffer; port: number }> = [];
  flushes: number[] = [];
  add(outgoing: OutgoingPacket): void {
    this.added.push({
      packet: Buffer.from(outgoing.packet),
      family: outgoing.family,
      address: Buffer.from(outgoing.address),
      port: outgoing.port,
    });
  }
  flush(): void {
    this.flushes.push(this.added.length);
  }
}

test('a burst within a batch is handed over with its destinations and flushed once, when the batch ends', () => {
  const handler = new Recorder();
  const writer = new PacketWriter(handler, 100);
  const address = Buffer.from([192, 0, 2, 7]);
  const taken: boolean[] = [];
  batchWrites(() => {
    for (let i = 0; i < 5; i++) taken.push(writer.push(Buffer.alloc(10 + i, i), 4, address, 51820 + i));
    assert.deepEqual(handler.flushes, [], 'nothing is written before the batch ends');
  });
  // The first packet of a burst after a pause is the caller's; the rest are queued.
  assert.deepEqual(taken, [false, true, true, true, true]);
  assert.deepEqual(handler.flushes, [4]);
  assert.deepEqual(
    handler.added.map((p) => [p.packet.length, p.packet[0], p.family, [...p.address], p.port]),
    [1, 2, 3, 4].map((i) => [10 + i, i, 4, [192, 0, 2, 7], 51820 + i]),
  );
});

test('the headroom is zeros in front of each packet, and a nested batch is written by the outermost', () => {
  const handler = new Recorder();
  const writer = new PacketWriter(handler, 100, 10);
  batchWrites(() => {
    writer.push(Buffer.from('first'));
    batchWrites(() => {
      writer.push(Buffer.from('second'));
      writer.push(Buffer.from('third'));
    });
    assert.deepEqual(handler.flushes, []);
  });
  assert.deepEqual(handler.flushes, [2]);
  assert.deepEqual(
    handler.added.map((p) => p.packet),
    [
      Buffer.concat([Buffer.alloc(10), Buffer.from('second')]),
      Buffer.concat([Buffer.alloc(10), Buffer.from('third')]),
    ],
  );
});

test('outside a batch, too big, or after stop, the caller writes; stop writes what is queued', () => {
  const handler = new Recorder();
  const writer = new PacketWriter(handler, 100);
  assert.equal(writer.push(Buffer.alloc(10)), false, 'outside a batch');
  batchWrites(() => {
    writer.push(Buffer.alloc(10));
    assert.equal(writer.push(Buffer.alloc(101)), false, 'too big');
    assert.equal(writer.push(Buffer.alloc(100)), true);
    writer.stop();
    assert.deepEqual(handler.flushes, [1], 'stop wrote what was queued');
    assert.equal(writer.push(Buffer.alloc(10)), false, 'stopped');
  });
  assert.deepEqual(handler.flushes, [1]);
});

test('a writer that queued nothing in a batch is not flushed', () => {
  const busy = new Recorder();
  const idle = new Recorder();
  const writers = [new PacketWriter(busy, 100), new PacketWriter(idle, 100)];
  batchWrites(() => {
    writers[0]!.push(Buffer.alloc(1));
    writers[0]!.push(Buffer.alloc(1));
  });
  assert.deepEqual(busy.flushes, [1]);
  assert.deepEqual(idle.flushes, []);
});

test("packets of separate events in one task (a WebSocket's messages) are one batch, written when its microtasks run", async () => {
  const handler = new Recorder();
  const writer = new PacketWriter(handler, 100);
  for (let i = 0; i < 3; i++) {
    batchWritesOfThisTask();
    writer.push(Buffer.alloc(10, i));
  }
  assert.deepEqual(handler.flushes, [], 'held back while the task runs');
  await Promise.resolve();
  // The first packet after a pause is the caller's; the other two are written together.
  assert.deepEqual(handler.flushes, [2]);
  assert.equal(writer.push(Buffer.alloc(10)), false, 'the batch is over');
});
