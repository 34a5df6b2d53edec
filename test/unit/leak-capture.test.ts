import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWireGuardMessage } from '../lib/leak-capture.ts';

/** A message's first bytes as the capture shows them: type, three zeros, then filler. */
const message = (type: number, size: number): string => `0${type}000000`.padEnd(size * 2, 'ab');
/** What the capture keeps of a payload: the test's capture takes 256 bytes of each frame. */
const kept = (hex: string): string => hex.slice(0, (256 - 42) * 2);

test('the leak capture knows single WireGuard messages by type and size', () => {
  assert.ok(isWireGuardMessage(148, message(1, 148)));
  assert.ok(isWireGuardMessage(92, message(2, 92)));
  assert.ok(isWireGuardMessage(64, message(3, 64)));
  assert.ok(isWireGuardMessage(32, message(4, 32)), 'a keepalive');
  assert.ok(!isWireGuardMessage(149, message(1, 149)));
  assert.ok(!isWireGuardMessage(4, '6c65616b'), "a probe's plain payload");
  assert.ok(!isWireGuardMessage(16, message(4, 16)));
});

test('the leak capture knows a GSO batch that starts with a handshake message', () => {
  // Seen in CI: an initiation and a queued 64-byte data packet, sent as one batch while reconnecting.
  assert.ok(isWireGuardMessage(212, kept(message(1, 148) + message(4, 64))));
  assert.ok(isWireGuardMessage(296, kept(message(1, 148) + message(1, 148))), 'two initiations');
  assert.ok(isWireGuardMessage(240, kept(message(1, 148) + message(2, 92))), 'a response last');
  assert.ok(
    !isWireGuardMessage(212, kept(message(1, 148) + '6c65616b'.padEnd(128, '0'))),
    'plain data after it',
  );
  assert.ok(!isWireGuardMessage(168, kept(message(1, 148) + message(4, 20))), 'a last message too short');
  assert.ok(!isWireGuardMessage(200, kept(message(1, 148) + message(2, 52))), 'a response of the wrong size');
});
