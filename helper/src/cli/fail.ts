// How the command-line tools report a failure: one clear line on stderr and a non-zero exit code.

import { PhantomError } from '../../../shared/src/errors.ts';

export function fail(program: string): (error: unknown) => void {
  return (error) => {
    const known = error instanceof PhantomError || (error instanceof Error && error.name === 'UapiError');
    console.error(
      `${program}: ${known ? (error as Error).message : String((error as Error)?.stack ?? error)}`,
    );
    process.exitCode = 1;
  };
}
