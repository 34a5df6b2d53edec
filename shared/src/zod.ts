// zod for every schema in PhantomMesh: its mini API, with English messages.
//
// The classic API gives every schema object its own copy of ~50 method closures (.optional(), .min(),
// ...). Bundled alone into bare Node, zod's classic API with the control API's schemas cost 7.0 MB of
// RSS, the mini API's functions 2.5 MB; in the idle helper service it was ~1.1 MB, and ~110 KB less
// bundle to compile at start-up (docs/performance.md). The mini API leaves the locale out; English is
// what the classic API sets, so error replies read the same.

import * as z from 'zod/mini';
import { en } from 'zod/locales';

z.config(en());

export { z };

/** A failed parse in one line: each issue as "path: message", separated by "; ". Not
 *  z.prettifyError, whose check marks and arrows made the helper bundle's zod chunk UTF-16 in the
 *  V8 heap, twice its size (docs/performance.md). */
export function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
