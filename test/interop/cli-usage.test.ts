// The `phantommesh` CLI with no helper running: mistakes in the command line, and import files that
// cannot be read or are not valid, are reported as such (not as "helper unavailable"), before the
// helper is asked anything. Needs neither root nor a network namespace.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../../helper/src/cli/phantommesh.ts', import.meta.url).pathname;
const KEY = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const PEER_KEY = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
let dir: string;
let absent: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI against a socket path where nothing exists. */
function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, '--socket', absent, ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
    );
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pm-cli-usage-'));
  absent = join(dir, 'absent.sock');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A usage error: exit 2, the hint, and nothing about the helper. */
function assertUsage(result: Run, message: RegExp, args: string[]): void {
  const what = `phantommesh ${args.join(' ')}: ${result.stderr}`;
  assert.equal(result.code, 2, what);
  assert.match(result.stderr, message, what);
  assert.match(result.stderr, /phantommesh --help/, what);
  assert.doesNotMatch(result.stderr, /not available|Is the service running/, what);
  assert.doesNotMatch(result.stderr, /tunnels\./, what);
  assert.equal(result.stdout, '', what);
}

test('the socket path of these tests does not exist: a valid command says the helper is unavailable', async () => {
  assert.ok(!existsSync(absent));
  const result = await run('list');
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /helper is not available/);
});

test('usage errors exit 2 before the helper is asked anything', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['frob'], /unknown command "frob"/],
    [['import'], /import needs FILE\nusage: phantommesh import FILE \[--name NAME\]/],
    [['new'], /new needs NAME\nusage: phantommesh new NAME/],
    [['show'], /show needs NAME/],
    [['up'], /up needs NAME\nusage: phantommesh up NAME \[--timeout SECONDS\]/],
    [['kill-switch'], /kill-switch needs on\|off/],
    [['kill-switch', 'maybe'], /kill-switch takes on or off, not "maybe"/],
    [['list', 'extra'], /list: unexpected argument "extra"/],
    [['up', 'office', 'home'], /up: unexpected argument "home"/],
    [['down', 'office', 'home'], /down: unexpected argument "home"/],
    [['import', 'a.conf', 'b.conf'], /import: unexpected argument "b.conf"/],
    [['genkey', 'now'], /genkey: unexpected argument "now"/],
    [['list', '--bogus'], /unknown option --bogus/],
    [['status', '-x'], /unknown option -x/],
    [['list', '--name', 'office'], /list does not take --name/],
    [['up', 'office', '--private-key'], /up does not take --private-key/],
    [['status', '-f'], /status does not take -f/],
    [['import', 'office.conf', '--name'], /--name needs a value/],
    [['list', '--json=yes'], /--json takes no value/],
    [['up', 'office', '--timeout', 'soon'], /--timeout takes a number of seconds above 0/],
    [['up', 'office', '--timeout', '0'], /--timeout takes a number of seconds above 0/],
    [['up', 'my office'], /"my office" is not a valid tunnel name: a tunnel name is 1-15 letters/],
    [['down', 'a-name-that-is-too-long'], /"a-name-that-is-too-long" is not a valid tunnel name/],
    [['new', 'no/slash'], /"no\/slash" is not a valid tunnel name/],
    [['import', 'office.conf', '--name', 'my office'], /"my office" is not a valid tunnel name/],
  ];
  const results = await Promise.all(cases.map(([args]) => run(...args)));
  cases.forEach(([args, message], index) => assertUsage(results[index]!, message, args));
});

test('no command prints the usage and exits 2; --help exits 0', async () => {
  const none = await run();
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^usage: phantommesh/);
  const help = await run('up', '--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /up NAME \[--timeout S\]/);
});

test('import: a missing file or a directory is named, without asking the helper', async () => {
  const missing = join(dir, 'nosuch.conf');
  const gone = await run('import', missing);
  assert.equal(gone.code, 2, gone.stderr);
  assert.equal(gone.stderr.trim(), `phantommesh: cannot read ${missing}: no such file`);
  const folder = join(dir, 'folder.conf');
  await mkdir(folder);
  const notFile = await run('import', folder);
  assert.equal(notFile.code, 2, notFile.stderr);
  assert.match(notFile.stderr, new RegExp(`cannot read ${folder}: it is a directory`));
});

test('import: a file name that is not a valid tunnel name suggests --name', async () => {
  for (const [file, suggestion] of [
    ['my office.conf', `'${join(dir, 'my office.conf')}' --name my-office`],
    ['a-very-long-office-name.conf', `${join(dir, 'a-very-long-office-name.conf')} --name a-very-long-off`],
  ] as const) {
    const path = join(dir, file);
    await writeFile(path, `[Interface]\nPrivateKey = ${KEY}\n`);
    const result = await run('import', path);
    const name = file.replace(/\.conf$/, '');
    assertUsage(result, new RegExp(`"${name}" \\(from the file name\\) is not a valid tunnel name`), [path]);
    assert.ok(result.stderr.includes(`phantommesh import ${suggestion}`), result.stderr);
  }
});

test('import: every error in the file, each as FILE:LINE, and nothing sent to the helper', async () => {
  const path = join(dir, 'office.conf');
  await writeFile(
    path,
    [
      '[Interface]', // 1
      `PrivateKey = ${KEY}`, // 2
      'Address = 10.0.0.300/24', // 3
      'PostUp = iptables -A FORWARD -j ACCEPT', // 4
      '', // 5
      '[Peer]', // 6
      'PublicKey = not-a-key', // 7
      'AllowedIPs = 192.0.2.0/24', // 8
      'Endpoint = 203.0.113.1', // 9
      'Keepalive = 25', // 10
      '',
    ].join('\n'),
  );
  const result = await run('import', path);
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((line) => /^(.*?):(\d+): (\w+):/.exec(line)?.slice(1)),
    [
      [path, '3', 'Address'],
      [path, '4', 'PostUp'],
      [path, '7', 'PublicKey'],
      [path, '9', 'Endpoint'],
      [path, '10', 'Keepalive'],
      undefined,
    ],
    result.stderr,
  );
  assert.equal(lines.at(-1), `phantommesh: ${path} has 5 errors; nothing was imported`);
  assert.match(result.stderr, new RegExp(`${path}:7: PublicKey: is 9 characters long, not 44`));
  assert.doesNotMatch(result.stderr, /not available|tunnels\./);
  // The same file with a peer key's worth of errors fixed still names what is left, at its line.
  await writeFile(path, `[Interface]\nPrivateKey = ${KEY}\n[Peer]\nPublicKey = ${PEER_KEY}\nFoo = bar\n`);
  const one = await run('import', path);
  assert.equal(one.code, 1);
  assert.match(one.stderr, new RegExp(`^${path}:5: Foo: is not a known \\[Peer\\] key`));
  assert.match(one.stderr, /has an error; nothing was imported/);
});
