// The TUN device's MTU against the real kernel (each scenario in a network namespace of its own, see
// test/lib/run-in-netns.ts): set at creation, as wireguard-go's CreateTUN does, then followed when
// `ip link set mtu` changes it, also after the link moved to another namespace while this process
// stayed behind (where the drop-in's interfaces go in wireguard-go's own test suite).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { openTun } from '../../helper/src/tun/tun.ts';
import { skipOutsideCi } from '../lib/netns.ts';
import { netnsUnavailable, scenarioRequested, scenarioRunner, serveScenario } from '../lib/run-in-netns.ts';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const linkMtu = (name: string, ns?: string): number =>
  Number(/ mtu (\d+) /.exec(ns ? ip('-n', ns, 'link', 'show', name) : ip('link', 'show', name))![1]);

/** The next MTU the TUN reports, or null if none within `ms`. */
function nextMtu(seen: number[], ms = 3000): Promise<number | null> {
  const before = seen.length;
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (seen.length > before || Date.now() - started > ms) {
        clearInterval(poll);
        resolve(seen[before] ?? null);
      }
    }, 10);
  });
}

const scenarios = {
  async followed() {
    const name = `dqm${randomBytes(3).toString('hex')}`;
    const tun = openTun(name, { mtu: 1420 });
    const atCreation = linkMtu(name);
    const seen: number[] = [];
    tun.start(
      () => {},
      undefined,
      (mtu) => seen.push(mtu),
    );
    ip('link', 'set', name, 'mtu', '9000');
    const here = await nextMtu(seen);
    const other = `dq-m${randomBytes(3).toString('hex')}`;
    ip('netns', 'add', other);
    try {
      ip('link', 'set', name, 'netns', other);
      ip('-n', other, 'link', 'set', name, 'mtu', '33000');
      const moved = await nextMtu(seen);
      ip('-n', other, 'link', 'set', name, 'up');
      const unchangedByUp = await nextMtu(seen, 300);
      ip('-n', other, 'link', 'set', name, 'mtu', '1280');
      const movedAgain = await nextMtu(seen);
      return { atCreation, here, moved, unchangedByUp, movedAgain, last: tun.mtu };
    } finally {
      ip('netns', 'del', other);
    }
  },
};

if (scenarioRequested()) {
  await serveScenario(scenarios, scenarioRequested()!);
} else {
  const run = scenarioRunner(import.meta.url, scenarios);
  const skip = skipOutsideCi(netnsUnavailable());

  test(
    'the MTU is set at creation and followed here and after a move to another namespace',
    { skip },
    async () => {
      assert.deepEqual(await run('followed'), {
        atCreation: 1420,
        here: 9000,
        moved: 33000,
        unchangedByUp: null,
        movedAgain: 1280,
        last: 1280,
      });
    },
  );
}
