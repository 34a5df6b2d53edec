// A bounded slice of the fuzz campaign (test/fuzz/targets.ts) in every run: 1,500 inputs per target,
// new ones each time (fast-check prints the seed of any failure). `npm run fuzz` runs a million.

import { test } from 'node:test';
import { TARGETS } from '../fuzz/targets.ts';
import fc from 'fast-check';

for (const target of TARGETS) {
  test(
    `fuzz: ${target.name} holds its properties for 1,500 random inputs`,
    { timeout: 120_000 },
    async () => {
      await (fc.assert as (p: unknown, o: unknown) => Promise<void> | void)(await target.property(), {
        numRuns: 1500,
      });
    },
  );
}
