// What the export dialog says when the helper says no. Pure (no DOM), unit-tested in
// test/unit/renderer-peers.test.ts.

import { strings } from '../strings.ts';

/**
 * A failed export, for people. A full backup refused for not being root (the helper's
 * NOT_AUTHORIZED) says so and how to make one anyway; anything else is "Could not export: …".
 */
export function exportProblem(
  failure: { message: string; code?: string },
  name: string,
  includePrivateKey: boolean,
): string {
  if (includePrivateKey && failure.code === 'NOT_AUTHORIZED')
    return strings.exportDialog.refused(name, failure.message.replace(/\.$/, ''));
  return strings.exportDialog.failed(failure.message);
}
