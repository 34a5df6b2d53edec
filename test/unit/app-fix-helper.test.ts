// "Start helper": which fixed script of the phantommesh-helper package the app asks pkexec to run, and
// how each answer of pkexec reads. systemctl and pkexec are fakes here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fixHelper, INSTALL_HELPER, START_HELPER, type Run } from '../../app/main/fix-helper.ts';
import { NotSupportedError, PhantomError } from '../../shared/src/errors.ts';

const POLICY = new URL('../../resources/linux/net.phantommesh.helper.policy', import.meta.url);

/** systemctl answers `enabled`; pkexec exits with `pkexec.code`. Records every command. */
function fakes(enabled: boolean, pkexec: { code: number; stderr?: string } = { code: 0 }) {
  const calls: string[][] = [];
  const run: Run = async (command, args) => {
    calls.push([command, ...args]);
    if (command === 'systemctl') return { code: enabled ? 0 : 1, stderr: '' };
    if (command === 'pkexec') return { code: pkexec.code, stderr: pkexec.stderr ?? '' };
    throw new Error(`unexpected ${command}`);
  };
  return { calls, run, isExecutable: async () => true };
}

test("the scripts are the helper package's fixed paths, the ones the polkit actions name", () => {
  assert.equal(START_HELPER, '/usr/lib/phantommesh-helper/start-helper');
  assert.equal(INSTALL_HELPER, '/usr/lib/phantommesh-helper/install-helper');
  const paths = [
    ...readFileSync(POLICY, 'utf8').matchAll(
      /<annotate key="org\.freedesktop\.policykit\.exec\.path">([^<]+)<\/annotate>/g,
    ),
  ].map((match) => match[1]);
  assert.deepEqual(paths.sort(), [INSTALL_HELPER, START_HELPER]);
});

test('an enabled service is started with start-helper, a disabled one repaired with install-helper', async () => {
  for (const [enabled, script] of [
    [true, START_HELPER],
    [false, INSTALL_HELPER],
  ] as const) {
    const { calls, run, isExecutable } = fakes(enabled);
    await fixHelper({ platform: 'linux', run, isExecutable });
    assert.deepEqual(calls, [
      ['systemctl', 'is-enabled', '--quiet', 'phantommesh-helper.service'],
      ['pkexec', script],
    ]);
  }
});

test('without the helper package: says which file is missing and what to install', async () => {
  const { calls, run } = fakes(false);
  const checked: string[] = [];
  await assert.rejects(
    fixHelper({
      platform: 'linux',
      run,
      isExecutable: async (path) => {
        checked.push(path);
        return false;
      },
    }),
    (error: PhantomError) => {
      assert.equal(error.code, 'HELPER_NOT_INSTALLED');
      assert.match(error.message, /\/usr\/lib\/phantommesh-helper\/install-helper is missing/);
      assert.match(error.message, /phantommesh-helper package is not installed/);
      return true;
    },
  );
  assert.deepEqual(checked, [INSTALL_HELPER]);
  assert.ok(!calls.some(([command]) => command === 'pkexec'), 'pkexec is not asked to run a missing file');
});

test('pkexec answers: dismissed, not authorized, failed', async () => {
  const cases = [
    { code: 126, expect: 'FIX_CANCELLED', message: /cancelled/ },
    { code: 127, expect: 'NOT_AUTHORIZED', message: /did not allow/ },
    {
      code: 1,
      stderr: 'the helper service did not start',
      expect: 'FIX_FAILED',
      message: /exit 1.*did not start/,
    },
  ];
  for (const { code, stderr, expect, message } of cases) {
    const { run, isExecutable } = fakes(true, { code, ...(stderr ? { stderr } : {}) });
    await assert.rejects(fixHelper({ platform: 'linux', run, isExecutable }), (error: PhantomError) => {
      assert.equal(error.code, expect);
      assert.match(error.message, message);
      return true;
    });
  }
});

test('elsewhere than Linux: not supported, nothing run', async () => {
  const { calls, run, isExecutable } = fakes(true);
  await assert.rejects(fixHelper({ platform: 'darwin', run, isExecutable }), NotSupportedError);
  assert.deepEqual(calls, []);
});
