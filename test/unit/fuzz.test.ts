// A bounded slice of the fuzz campaign (test/fuzz/targets.ts) in every run: 1,500 inputs per target,
// the same ones each time (a fixed seed), so that the suite's verdict does not depend on luck;
// `npm run fuzz` explores a million new ones per target.

import { test } from 'node:test';
import { TARGETS } from '../fuzz/targets.ts';
import fc from 'fast-check';

for (const target of TARGETS) {
  test(`fuzz: ${target.name} holds its properties for 1,500 inputs`, { timeout: 120_000 }, async () => {
    await (fc.assert as (p: unknown, o: unknown) => Promise<void> | void)(await target.property(), {
      numRuns: 1500,
      seed: 20261130,
    });
  });
}
