// The config editor's logic around checkConfig (app/renderer/src/lib/config.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  configProblems,
  helperProblem,
  nameFromFile,
  nameProblem,
} from '../../app/renderer/src/lib/config.ts';

const KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PEER = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';

test('problems carry their line, written "Line N:"', () => {
  const text = `[Interface]\nPrivateKey = ${KEY}\nAddress = 10.0.0.2/32\n\n[Peer]\nPublicKey = ${PEER}\nAllowedIPs = 10.0.0.0/33\n`;
  const problems = configProblems(text, 'import');
  assert.equal(problems.length, 1);
  assert.equal(problems[0].line, 7);
  assert.match(problems[0].message, /^Line 7: AllowedIPs: "10\.0\.0\.0\/33" is not an IP prefix/);
});

test('an edited text may leave out PrivateKey (the helper keeps it); an imported one may not', () => {
  const text = `[Interface]\nAddress = 10.0.0.2/32\n\n[Peer]\nPublicKey = ${PEER}\nAllowedIPs = 0.0.0.0/0\n`;
  assert.deepEqual(configProblems(text, 'edit'), []);
  const imported = configProblems(text, 'import');
  assert.equal(imported.length, 1);
  assert.match(imported[0].message, /^Line 1: PrivateKey: is missing/);
});

test('edit mode still reports every other problem', () => {
  const text = `[Interface]\nAddress = 10.0.0.2/32\nBogus = 1\n`;
  const problems = configProblems(text, 'edit');
  assert.deepEqual(
    problems.map((problem) => problem.line),
    [3],
  );
});

test('tunnel names follow the interface-name rule', () => {
  assert.equal(nameProblem('office'), null);
  assert.equal(nameProblem('a_b=c+d.e-f'), null);
  assert.match(nameProblem('') ?? '', /Enter a name/);
  assert.match(nameProblem('has space') ?? '', /1-15 letters/);
  assert.match(nameProblem('sixteen-chars-xx') ?? '', /1-15 letters/);
  assert.match(nameProblem('..') ?? '', /cannot be/);
  assert.match(nameProblem('office', ['home', 'office']) ?? '', /already exists/);
});

test('a name is suggested from a file name', () => {
  assert.equal(nameFromFile('office.conf'), 'office');
  assert.equal(nameFromFile('/home/alice/Downloads/wg0.CONF'), 'wg0');
  assert.equal(nameFromFile('C:\\Users\\bob\\My VPN (2).conf'), 'My-VPN-2');
  assert.equal(nameFromFile('mullvad-se-got-wg-001.conf'), 'mullvad-se-got');
  assert.equal(nameFromFile('ünïcode.conf'), 'ncode');
  assert.equal(nameFromFile('.conf'), '');
});

test("the helper's config errors read the same as the editor's", () => {
  assert.deepEqual(helperProblem('line 7: AllowedIPs: "x" is not an IP prefix', 7), {
    line: 7,
    message: 'Line 7: AllowedIPs: "x" is not an IP prefix',
  });
  assert.deepEqual(helperProblem('hooks are refused: the helper runs as root', 3), {
    line: 3,
    message: 'Line 3: hooks are refused: the helper runs as root',
  });
});

test('hooks, which the helper refuses, are problems at their lines', () => {
  const text = `[Interface]\nPrivateKey = ${KEY}\nPostUp = iptables -A FORWARD # hi\n# PreDown = commented out\npredown=x\n`;
  const problems = configProblems(text, 'import');
  assert.deepEqual(
    problems.map((problem) => problem.line),
    [3, 5],
  );
  assert.match(problems[0].message, /^Line 3: PostUp: PhantomMesh never runs shell commands/);
  assert.match(problems[1].message, /^Line 5: predown: /);
});
