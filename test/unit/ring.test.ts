import assert from 'node:assert/strict';
import test from 'node:test';
import {
  createBell,
  createRing,
  RingConsumer,
  RingProducer,
  type RingEntry,
} from '../../helper/src/datapath/ring.ts';

interface Seen {
  packet: Buffer;
  family: number;
  address: Buffer;
  port: number;
}

function drainAll(consumer: RingConsumer): Seen[] {
  const seen: Seen[] = [];
  consumer.drain((entry: RingEntry) =>
    seen.push({
      packet: Buffer.from(entry.packet),
      family: entry.family,
      address: Buffer.from(entry.address),
      port: entry.port,
    }),
  );
  return seen;
}

test('packets come out in order with their destinations, across many wraps of the ring', () => {
  const ring = createRing(8, 100);
  const producer = new RingProducer(ring, createBell());
  const consumer = new RingConsumer(ring);
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 1 + (round % 8); i++, next++) {
      const address = Buffer.alloc(16, next & 0xff);
      assert.equal(
        producer.push(Buffer.alloc(1 + (next % 100), next & 0xff), 6, address, next & 0xffff),
        true,
      );
    }
    assert.equal(producer.drained, false);
    for (const seen of drainAll(consumer)) {
      assert.deepEqual(seen.packet, Buffer.alloc(1 + (expected % 100), expected & 0xff));
      assert.equal(seen.family, 6);
      assert.deepEqual(seen.address, Buffer.alloc(16, expected & 0xff));
      assert.equal(seen.port, expected & 0xffff);
      expected++;
    }
    assert.equal(producer.drained, true);
    assert.equal(consumer.empty, true);
  }
  assert.equal(expected, next);
});

test('headroom: every packet reaches the consumer behind that many zero bytes', () => {
  const ring = createRing(4, 64, 10);
  const producer = new RingProducer(ring, createBell());
  const consumer = new RingConsumer(ring);
  // Slots that carried full packets before: the headroom must still read as zeros.
  for (let i = 0; i < 9; i++) {
    producer.push(Buffer.alloc(producer.capacity, 0xff));
    drainAll(consumer);
  }
  producer.push(Buffer.from([1, 2, 3]));
  const [seen] = drainAll(consumer);
  assert.deepEqual(seen!.packet, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]));
  assert.ok(producer.capacity >= 64);
  assert.equal(producer.push(Buffer.alloc(producer.capacity + 1)), false, 'too big for a slot');
});

test('a full ring holds the producer back, then refuses once nobody makes room (no consumer running)', () => {
  const ring = createRing(2, 16);
  const producer = new RingProducer(ring, createBell());
  assert.equal(producer.push(Buffer.from('a')), true);
  assert.equal(producer.push(Buffer.from('b')), true);
  const started = performance.now();
  assert.equal(producer.push(Buffer.from('c')), false);
  assert.ok(performance.now() - started >= 150, 'waited for room before refusing');
  const consumer = new RingConsumer(ring);
  assert.deepEqual(
    drainAll(consumer).map((seen) => seen.packet.toString()),
    ['a', 'b'],
    'nothing lost, nothing overwritten',
  );
  producer.stop();
  assert.equal(consumer.finished, true);
});

test('a push can leave a sleeping consumer asleep; one that finds the ring full wakes it anyway', () => {
  const ring = createRing(2, 16);
  const bell = createBell();
  const producer = new RingProducer(ring, bell);
  const asleep = () => Atomics.store(bell, 0, 1);
  asleep();
  producer.push(Buffer.from('a'), 0, undefined, 0, false);
  assert.equal(Atomics.load(bell, 0), 1, 'wake-up held back');
  producer.push(Buffer.from('b'));
  assert.equal(Atomics.load(bell, 0), 0, 'rung');
  asleep();
  assert.equal(producer.push(Buffer.from('c'), 0, undefined, 0, false), false);
  assert.equal(Atomics.load(bell, 0), 0, 'a full ring rings before it waits, whatever the caller asked');
});
