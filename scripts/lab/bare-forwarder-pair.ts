// One bare-forwarder.ts at each end of a namespace pair, with the tunnel pair's inner addresses: what
// `bench:throughput` pings through for the runtime's latency floor (no WireGuard protocol).

import { execIn, spawnIn, uniqueName, type Spawned, type Topology } from './netns.ts';
import { INNER, OUR_PORT, THEIR_PORT } from './tunnel-pair.ts';

const FORWARDER = new URL('./bare-forwarder.ts', import.meta.url).pathname;

/** Starts both forwarders and brings their TUNs up; `topology.destroy()` stops them. */
export async function startBareForwarders(topology: Topology): Promise<{ a: Spawned; b: Spawned }> {
  const ends = [
    { side: topology.a, inner: INNER.ours4, port: OUR_PORT, peer: topology.b.ipv4, peerPort: THEIR_PORT },
    { side: topology.b, inner: INNER.theirs4, port: THEIR_PORT, peer: topology.a.ipv4, peerPort: OUR_PORT },
  ];
  const started: Spawned[] = [];
  for (const end of ends) {
    const name = uniqueName('pmf');
    const forwarder = spawnIn(end.side.ns, process.execPath, [
      FORWARDER,
      name,
      String(end.port),
      end.peer,
      String(end.peerPort),
    ]);
    started.push(forwarder);
    await forwarder.waitForLine(/^ready$/, 10_000);
    await execIn(end.side.ns, 'ip', ['address', 'add', `${end.inner}/24`, 'dev', name]);
    await execIn(end.side.ns, 'ip', ['link', 'set', name, 'up']);
  }
  return { a: started[0]!, b: started[1]! };
}
