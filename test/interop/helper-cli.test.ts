// `phantommesh-helper`'s command line: --version, and the rule that keeps subcommands and interface
// names apart (`serve` and `tunnel` are subcommands; an interface named so comes after `--`). Needs
// neither root nor a network namespace: every case here is refused before anything is created.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

const HELPER = new URL('../../helper/src/cli/phantommesh-helper.ts', import.meta.url).pathname;

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HELPER, ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
    );
  });
}

test('--version prints the version', async () => {
  const result = await run('--version');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^phantommesh-helper \d+\.\d+\.\d+\n$/);
});

test('--help documents the wireguard-go form and how subcommand names are told apart', async () => {
  const result = await run('--help');
  assert.equal(result.code, 0);
  assert.match(result.stdout, /\[-f\|--foreground\] \[--\] INTERFACE/);
  assert.match(result.stdout, /phantommesh-helper -- serve/);
});

test('an interface named like a subcommand is refused with -f, pointing at --', async () => {
  for (const name of ['serve', 'tunnel']) {
    const result = await run('-f', name);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`${name} is a subcommand; .* phantommesh-helper -f -- ${name}`));
  }
});

test('more than one interface, or options of other forms, are usage errors', async () => {
  for (const args of [['a', 'b'], ['--socket', '/x', 'wg0'], ['-f'], ['--version', 'wg0']]) {
    const result = await run(...args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /usage:/);
  }
});

test('an invalid interface name is refused before anything is created', async () => {
  const result = await run('-f', '--', 'a-name-that-is-too-long');
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /invalid interface name/);
});
