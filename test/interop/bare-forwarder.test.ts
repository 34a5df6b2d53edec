// The benchmark's latency floor (scripts/lab/bare-forwarder.ts) must measure a path that exists: pings
// between the two namespaces' inner addresses cross the forwarders, sealed over UDP, and nothing else.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startBareForwarders } from '../../scripts/lab/bare-forwarder-pair.ts';
import { INNER, THEIR_PORT } from '../../scripts/lab/tunnel-pair.ts';
import { createTopology, execIn, ping, requireRoot, udpCounter } from '../lib/netns.ts';

test(
  'bare forwarder: pings cross the pair sealed over UDP, and stop when one end stops',
  { timeout: 60_000 },
  async (t) => {
    if (!requireRoot(t)) return;
    const topology = await createTopology();
    t.after(() => topology.destroy());
    const forwarders = await startBareForwarders(topology);

    // One ping at a time: each waits up to 2 s for its reply, where a burst's last replies get only
    // two round trips once some have come back (iputils), too short for a loaded CI machine.
    for (let i = 0; i < 3; i++) {
      const through = await ping(topology.a.ns, INNER.theirs4, { count: 1 });
      assert.equal(through.received, 1, through.output);
    }
    // The requests reached namespace b as UDP datagrams to the forwarder's port, not as plain ICMP.
    assert.ok((await udpCounter(topology.b.ns, 'InDatagrams')) >= 3);
    assert.match(await execIn(topology.b.ns, 'ss', ['-uan']), new RegExp(`:${THEIR_PORT}\\b`));

    await forwarders.b.stop();
    await assert.rejects(ping(topology.a.ns, INNER.theirs4, { count: 2, interval: 0.2 }), /0 received/);
  },
);
