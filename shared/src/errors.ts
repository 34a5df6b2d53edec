// Error types every part of PhantomMesh throws and reports. `code` is stable for programs;
// `message` is written for people.

export class PhantomError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'PhantomError';
    this.code = code;
  }
}

/** A wg-quick file problem, always tied to a line (1-based) and, where there is one, a key. */
export class ConfigError extends PhantomError {
  readonly line: number;
  readonly key: string | undefined;
  constructor(line: number, key: string | undefined, problem: string) {
    super('CONFIG_INVALID', key ? `line ${line}: ${key}: ${problem}` : `line ${line}: ${problem}`);
    this.name = 'ConfigError';
    this.line = line;
    this.key = key;
  }
}

/** Thrown where a platform has no implementation yet, instead of a silent stub. */
export class NotSupportedError extends PhantomError {
  constructor(what: string, platform: string = process.platform) {
    super('NOT_SUPPORTED', `${what} is not supported on this OS yet (${platform})`);
    this.name = 'NotSupportedError';
  }
}
