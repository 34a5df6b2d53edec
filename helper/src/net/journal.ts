// The crash-safety journal of the helper's network changes, as an engine that knows no OS: every
// change is written to disk, with what undoing it needs, BEFORE it is made, and leaves the journal
// once it is undone. A helper that crashed, was killed or lost power leaves its journal behind;
// recover() at the next start undoes what it lists, newest first, except a change that fails closed
// (a kill switch that was on): that stays until the user turns it off. What the changes are, and how
// each is made and undone, is the ChangeKinds an OS gives it (network-changes_linux.ts), so recovery
// needs nothing but the file. The seam that picks them is network-journal.ts.

import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeIssues, z } from '../../../shared/src/zod.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { writeFileAtomic } from '../../../shared/src/atomic-file.ts';

/** A change as recorded: plain JSON with a `kind`. */
export interface JournalChange {
  kind: string;
}

/** An OS's kinds of change `C`, asked for as requests `R` (a change without what the journal captures). */
export interface ChangeKinds<C extends JournalChange, R> {
  /** Checks a change, when recorded and when read back. */
  schema: z.ZodMiniType<C>;
  /** The change a request makes, with what undoing it needs captured now; `recorded` are those in force. */
  capture(request: R, recorded: readonly C[]): Promise<C>;
  perform(change: C): Promise<void>;
  /** Undoes `change`; what is already gone counts as undone. `others` are the changes that stay. */
  revert(change: C, others: readonly C[]): Promise<void>;
  /** Whether `next` takes the place of the recorded `old` (an update) instead of adding to it. */
  replaces(next: C, old: C): boolean;
  /** A change that recover() keeps (and makes again), so that the system fails closed. */
  failsClosed(change: C): boolean;
  /** The change in a few words, for error messages. */
  describe(change: C): string;
  /** What a person should do with a journal this helper cannot read. */
  manualUndo: string;
}

export interface RecoveryReport {
  /** A change that fails closed (the kill switch) was on: it stays, made again in case a reboot removed it. */
  killSwitchKept: boolean;
  /** How many changes were undone. */
  undone: number;
  /** What could not be undone; those changes stay in the journal for the next attempt. */
  failures: string[];
}

export class Journal<C extends JournalChange, R> {
  readonly path: string;
  #kinds: ChangeKinds<C, R>;
  #changes: C[];
  /** One operation at a time: each reads and rewrites the whole list. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, kinds: ChangeKinds<C, R>, changes: C[]) {
    this.path = path;
    this.#kinds = kinds;
    this.#changes = changes;
  }

  /** Reads the journal at `path` (none yet is an empty journal); its directory is made 0700. */
  static async open<C extends JournalChange, R>(
    path: string,
    kinds: ChangeKinds<C, R>,
  ): Promise<Journal<C, R>> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Journal(path, kinds, []);
      throw new PhantomError(
        'NETWORK_JOURNAL_UNREADABLE',
        `cannot read ${path}: ${(error as Error).message}`,
      );
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      // Reported by the schema check below, as any other malformed journal.
    }
    const parsed = z.object({ version: z.literal(1), changes: z.array(kinds.schema) }).safeParse(data);
    if (!parsed.success) {
      throw new PhantomError(
        'NETWORK_JOURNAL_INVALID',
        `${path} is not a network journal this helper understands (${describeIssues(parsed.error)}). ` +
          kinds.manualUndo,
      );
    }
    return new Journal(path, kinds, parsed.data.changes);
  }

  /** The changes in force, oldest first. */
  get changes(): readonly C[] {
    return [...this.#changes];
  }

  /** Records the change, then makes it. If making it fails, the record goes and the error is thrown;
   *  a change that replaces an earlier one (the kill switch, an nft table) leaves that one in force. */
  apply(request: R): Promise<void> {
    return this.#serially(async () => {
      const change = await this.#capture(request);
      const before = this.#changes;
      const index = before.findIndex((old) => this.#kinds.replaces(change, old));
      await this.#save(index === -1 ? [...before, change] : before.with(index, change));
      try {
        await this.#kinds.perform(change);
      } catch (error) {
        await this.#save(before);
        throw error;
      }
    });
  }

  /** Undoes the changes `filter` selects, newest first. Each leaves the journal once it is undone; those
   *  that fail stay (for recover()) and are reported together after the others are done. */
  undo(filter: (change: C) => boolean): Promise<void> {
    return this.#serially(async () => {
      const failures = await this.#undoWhere(filter);
      if (failures.length > 0)
        throw new PhantomError('NET_RESTORE_FAILED', `could not undo: ${failures.join('; ')}`);
    });
  }

  /** At start-up: undoes what a previous run left, except what fails closed (a kill switch that was on). */
  recover(): Promise<RecoveryReport> {
    return this.#serially(async () => {
      const count = this.#changes.length;
      const kinds = this.#kinds;
      const failures = await this.#undoWhere((change) => !kinds.failsClosed(change));
      const kept = this.#changes.filter((change) => kinds.failsClosed(change));
      for (const change of kept) {
        try {
          await kinds.perform(change);
        } catch (error) {
          failures.push(`reloading ${kinds.describe(change)}: ${(error as Error).message}`);
        }
      }
      return { killSwitchKept: kept.length > 0, undone: count - this.#changes.length, failures };
    });
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #capture(request: R): Promise<C> {
    const change = await this.#kinds.capture(request, this.#changes);
    const checked = this.#kinds.schema.safeParse(change);
    if (!checked.success)
      throw new PhantomError('NETWORK_CHANGE_INVALID', `${change.kind}: ${describeIssues(checked.error)}`);
    return checked.data;
  }

  async #undoWhere(filter: (change: C) => boolean): Promise<string[]> {
    const failures: string[] = [];
    for (const change of this.#changes.filter(filter).reverse()) {
      const others = this.#changes.filter((other) => other !== change);
      try {
        await this.#kinds.revert(change, others);
      } catch (error) {
        failures.push(`${this.#kinds.describe(change)}: ${(error as Error).message}`);
        continue;
      }
      await this.#save(others);
    }
    return failures;
  }

  async #save(changes: C[]): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify({ version: 1, changes }, null, 2)}\n`, {
      mode: 0o600,
    });
    this.#changes = changes;
  }
}
