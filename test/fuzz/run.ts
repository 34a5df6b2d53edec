// `npm run fuzz`: the fuzz campaign (test/fuzz/targets.ts), a million inputs per target by default.
//   npm run fuzz -- --runs 10000 --seed 42
// A broken property stops the run with fast-check's report: the seed, the path and the shrunk input.

import { parseArgs } from 'node:util';
import { fuzz } from './targets.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '1000000' }, seed: { type: 'string' } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1)
  throw new Error(`--runs ${values.runs}: not a positive whole number`);

const started = performance.now();
await fuzz(
  runs,
  (name, count, seconds) =>
    console.log(
      `${name}: ${count.toLocaleString('en')} inputs, no property broken (${seconds.toFixed(1)} s)`,
    ),
  values.seed === undefined ? undefined : Number(values.seed),
);
console.log(`fuzz: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
