// The test harness's view of the lab (scripts/lab/netns.ts): everything it offers, plus the rule for
// skipping a test that cannot run here.

import type { TestContext } from 'node:test';
import { missingPrerequisites } from '../../scripts/lab/netns.ts';

export * from '../../scripts/lab/netns.ts';

/**
 * What a test should be skipped for: `reason` on a developer's machine, never under CI=true, where the
 * machine is meant to have everything. There the test runs and fails, and this says why first.
 */
export function skipOutsideCi(reason: string | undefined | false): string | false {
  if (!reason) return false;
  if (process.env.CI !== 'true') return reason;
  console.log(`# CI: ${reason}: the tests that need it run anyway and fail`);
  return false;
}

/** Why the namespace tests cannot run here (see skipOutsideCi), or false. */
export function testSkipReason(): string | false {
  return skipOutsideCi(missingPrerequisites());
}

/** Skips test `t` with the reason when the harness cannot run; returns whether it can. */
export function requireRoot(t: TestContext): boolean {
  const reason = testSkipReason() || undefined;
  if (reason !== undefined) t.skip(reason);
  return reason === undefined;
}
