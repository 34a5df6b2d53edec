// The addresses the helper last resolved for endpoint host names, in endpoint-pins.json in the state
// directory. While the kill switch blocks, a name is never looked up outside a tunnel (the query would
// leave in clear, or be dropped): the tunnel connects to the pinned address instead, also after a
// restart, when no tunnel is up yet. A missing or unreadable file means no pins.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from '../../../shared/src/zod.ts';
import { writeFileAtomic } from '../../../shared/src/atomic-file.ts';

const Pin = z.object({ address: z.string(), family: z.union([z.literal(4), z.literal(6)]) });
const FileSchema = z.object({ hosts: z.record(z.string(), Pin) });
export type Pin = z.infer<typeof Pin>;

export class EndpointPins {
  readonly path: string;
  #hosts: Map<string, Pin>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, hosts: Map<string, Pin>) {
    this.path = path;
    this.#hosts = hosts;
  }

  static async open(stateDir: string, log: (line: string) => void = () => {}): Promise<EndpointPins> {
    const path = join(stateDir, 'endpoint-pins.json');
    const hosts = new Map<string, Pin>();
    try {
      const parsed = FileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (parsed.success) for (const [host, pin] of Object.entries(parsed.data.hosts)) hosts.set(host, pin);
      else log(`${path} is not a list of endpoint addresses; ignored`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        log(`cannot read ${path} (${(error as Error).message}); ignored`);
    }
    return new EndpointPins(path, hosts);
  }

  /** In memory only (tests, the foreground runner). */
  static inMemory(): EndpointPins {
    return new EndpointPins('', new Map());
  }

  get(host: string): Pin | undefined {
    return this.#hosts.get(host.toLowerCase());
  }

  set(host: string, pin: Pin): Promise<void> {
    const key = host.toLowerCase();
    const old = this.#hosts.get(key);
    if (old?.address === pin.address && old.family === pin.family) return this.#queue.then(() => undefined);
    this.#hosts.set(key, { address: pin.address, family: pin.family });
    if (!this.path) return Promise.resolve();
    const text = JSON.stringify({ hosts: Object.fromEntries(this.#hosts) }, null, 2) + '\n';
    const result = this.#queue.then(() => writeFileAtomic(this.path, text, { mode: 0o600 }));
    this.#queue = result.catch(() => undefined);
    return result;
  }
}
