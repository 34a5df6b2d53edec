// The helper's log: kept in a ring for `logs.tail` and diagnostics, streamed to subscribers, and
// written to stderr for journald.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  time: number;
  level: LogLevel;
  source: string;
  message: string;
}

const KEPT_LINES = 2000;

export class HelperLog {
  private readonly lines: LogLine[] = [];
  private readonly listeners = new Set<(line: LogLine) => void>();
  private readonly write: (text: string) => void;

  constructor(write: (text: string) => void = (text) => process.stderr.write(text + '\n')) {
    this.write = write;
  }

  add(level: LogLevel, source: string, message: string): void {
    const line = { time: Date.now(), level, source, message };
    this.lines.push(line);
    if (this.lines.length > KEPT_LINES) this.lines.shift();
    this.write(`${level} ${source}: ${message}`);
    for (const listener of this.listeners) listener(line);
  }

  /** A logger bound to one source, for code that only wants to say things. */
  for(source: string): (message: string) => void {
    return (message) => this.add('info', source, message);
  }

  tail(count: number): LogLine[] {
    return this.lines.slice(-count);
  }

  subscribe(listener: (line: LogLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
