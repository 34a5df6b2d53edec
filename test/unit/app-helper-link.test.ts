// What a failed connection to the helper means for people (HelperConnection states and messages).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HelperError } from '../../shared/src/control/client.ts';
import { APPLICATION_ERROR, PROTOCOL_VERSION } from '../../shared/src/control/protocol.ts';
import { PhantomError } from '../../shared/src/errors.ts';
import { describeFailure, UNAUTHORIZED_MESSAGE } from '../../app/main/helper-link.ts';

const context = { canFix: true, unavailableHint: 'Start it from here.' };

test('no socket, or nobody listening: not running, with the fix the platform has', () => {
  for (const error of [
    new PhantomError('HELPER_UNAVAILABLE', '/run/phantommesh/helper.sock does not exist'),
    new PhantomError('HELPER_UNAVAILABLE', 'nothing is listening on /run/phantommesh/helper.sock'),
    new PhantomError('HELPER_DISCONNECTED', 'the helper closed the connection'),
  ])
    assert.deepEqual(describeFailure(error, context), {
      state: 'unavailable',
      message: 'Start it from here.',
      canFix: true,
    });
  assert.equal(
    describeFailure(new PhantomError('HELPER_UNAVAILABLE', 'x'), { ...context, canFix: false }).canFix,
    false,
  );
});

test('not in the group: unauthorized, with the command that fixes it', () => {
  const connection = describeFailure(
    new PhantomError('NOT_AUTHORIZED', 'permission denied on /run/…'),
    context,
  );
  assert.deepEqual(connection, { state: 'unauthorized', message: UNAUTHORIZED_MESSAGE, canFix: false });
  assert.match(UNAUTHORIZED_MESSAGE, /phantommesh group/);
  assert.match(UNAUTHORIZED_MESSAGE, /`sudo usermod -aG phantommesh \$USER`/);
});

test('different protocol versions: out of date, saying which side', () => {
  const older = new HelperError({
    code: APPLICATION_ERROR,
    message: 'helper out of date',
    data: { code: 'VERSION_MISMATCH', protocolVersion: PROTOCOL_VERSION - 1 },
  });
  const helperOld = describeFailure(older, context);
  assert.equal(helperOld.state, 'out-of-date');
  assert.equal(helperOld.canFix, false);
  assert.match(
    helperOld.message!,
    /^The PhantomMesh helper is out of date: it speaks protocol \d+, the app \d+\./,
  );

  const newer = new HelperError({
    code: APPLICATION_ERROR,
    message: 'client out of date',
    data: { code: 'VERSION_MISMATCH', protocolVersion: PROTOCOL_VERSION + 1 },
  });
  assert.match(
    describeFailure(newer, context).message!,
    /^This app is out of date: the helper speaks protocol/,
  );
});

test('a socket not owned by root, or a broken helper: unavailable, no fix offered, the reason shown', () => {
  const untrusted = new PhantomError(
    'HELPER_UNTRUSTED',
    '/run/phantommesh/helper.sock belongs to uid 1000, not root, so it is not the PhantomMesh helper; not using it',
  );
  assert.deepEqual(describeFailure(untrusted, context), {
    state: 'unavailable',
    message: `Cannot use the PhantomMesh helper: ${untrusted.message}`,
    canFix: false,
  });
  assert.equal(describeFailure(new Error('EIO'), context).message, 'Cannot use the PhantomMesh helper: EIO');
});
