import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IndexTable } from '../../helper/src/wireguard/index-table.ts';

test('indices are distinct u32s that find their values until deleted', () => {
  const table = new IndexTable<string>();
  const indices = Array.from({ length: 5_000 }, (_, i) => table.allocate(`v${i}`));
  assert.equal(new Set(indices).size, indices.length);
  assert.equal(table.size, indices.length);
  for (const index of indices) assert.ok(Number.isInteger(index) && index >= 0 && index <= 0xffffffff);
  indices.forEach((index, i) => assert.equal(table.get(index), `v${i}`));
  // Random, not counted up: consecutive indices are rarely neighbours.
  assert.ok(indices.filter((index, i) => i > 0 && Math.abs(index - indices[i - 1]) < 1000).length < 10);

  table.delete(indices[0]);
  assert.equal(table.get(indices[0]), undefined);
  assert.equal(table.size, indices.length - 1);
  table.delete(indices[0]);
  assert.equal(table.size, indices.length - 1);
});

test('an index already in use is drawn again', () => {
  const table = new IndexTable<string>();
  const first = table.allocate('first');
  // White-box: the next random words are `first` again, then 7.
  const pool = Buffer.alloc(8);
  pool.writeUInt32LE(first, 0);
  pool.writeUInt32LE(first === 7 ? 8 : 7, 4);
  (table as unknown as { pool: Buffer }).pool = pool;
  const second = table.allocate('second');
  assert.equal(second, first === 7 ? 8 : 7);
  assert.equal(table.get(first), 'first');
  assert.equal(table.get(second), 'second');
});
