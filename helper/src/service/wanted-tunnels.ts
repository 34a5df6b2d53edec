// The tunnels the user wants up, in wanted-tunnels.json in the state directory. Only the user's own
// connect and disconnect change it; a helper stopping (systemctl restart, a package upgrade, a crash)
// does not, so the next run brings the same tunnels back up, as Mullvad's daemon restores its target
// state. A missing or unreadable file means "none": the helper must start whatever is on disk.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from '../../../shared/src/zod.ts';
import { writeFileAtomic } from '../../../shared/src/atomic-file.ts';

const FileSchema = z.object({ tunnels: z.array(z.string()) });

export class WantedTunnels {
  readonly path: string;
  #names: Set<string>;
  // Writes happen one after the other, so the file always ends with the last change.
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, names: Iterable<string>) {
    this.path = path;
    this.#names = new Set(names);
  }

  static async open(stateDir: string, log: (line: string) => void = () => {}): Promise<WantedTunnels> {
    const path = join(stateDir, 'wanted-tunnels.json');
    let names: string[] = [];
    try {
      const parsed = FileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (parsed.success) names = parsed.data.tunnels;
      else log(`${path} is not a list of tunnels; no tunnel is brought back up`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        log(`cannot read ${path} (${(error as Error).message}); no tunnel is brought back up`);
    }
    return new WantedTunnels(path, names);
  }

  /** The names, in the order the user connected them. */
  names(): string[] {
    return [...this.#names];
  }

  has(name: string): boolean {
    return this.#names.has(name);
  }

  add(name: string): Promise<void> {
    if (this.#names.has(name)) return this.#queue.then(() => undefined);
    this.#names.add(name);
    return this.#save();
  }

  /** Forgets `names`, or every tunnel without it. */
  remove(names?: readonly string[]): Promise<void> {
    const before = this.#names.size;
    if (names) for (const name of names) this.#names.delete(name);
    else this.#names.clear();
    if (this.#names.size === before) return this.#queue.then(() => undefined);
    return this.#save();
  }

  #save(): Promise<void> {
    const text = JSON.stringify({ tunnels: [...this.#names] }, null, 2) + '\n';
    const result = this.#queue.then(() => writeFileAtomic(this.path, text, { mode: 0o600 }));
    this.#queue = result.catch(() => undefined);
    return result;
  }
}
