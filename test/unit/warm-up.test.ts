// The start-up warm-up really runs the handshake and the data path (or it would warm nothing).

import assert from 'node:assert/strict';
import test from 'node:test';
import { warmUp } from '../../helper/src/wireguard/warm-up.ts';

test('warm-up: a handshake and data both ways per round, in memory', async () => {
  const result = await warmUp();
  assert.equal(result.handshakes, 1);
  assert.equal(result.delivered, 9, 'the first packet and four each way');
});
