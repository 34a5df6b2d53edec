// A booted systemd in a container, for tests that need the real thing: a package's maintainer
// scripts, a unit's sandboxing, polkit. The recipe, and why each nspawn flag is there:
// /work/shared/research/linux-packaging.md ("A booted systemd in a container").
//
// - ensureRoot(): a Debian bookworm root made once with debootstrap and cached as a tarball (zstd;
//   gzip where zstd is not installed, which unpacks in 1.3 s instead of 0.4 s) in
//   /var/cache/phantommesh-test/, named after the package list (another list, another file).
// - boot(name, { bind }): in a private mount namespace (unshare) a tmpfs on /run/systemd, the
//   tarball unpacked into it, and `systemd-nspawn --boot` on that copy with the recipe's flags. The
//   copy replaces nspawn's --ephemeral, which copies the root on the host's disk: measured here, an
//   ext4 copy of the 214 MB root takes 6-7 s of kernel time, unpacking into tmpfs 0.4 s. The copy,
//   nspawn's scratch directories and every mount exist only in that namespace, so they vanish with
//   its last process, however the run ends. reboot() is a real reboot (`systemctl reboot`; nspawn
//   exits 133 and the wrapper boots the same copy again, as systemd-nspawn@.service does).
// - Each container runs in a cgroup of its own (phantommesh-test-PID-N under this process's cgroup,
//   in the unified and the name=systemd hierarchy), where nspawn makes its supervisor/payload
//   groups; removed after poweroff. Without it, nspawn puts them at the root, shared between
//   concurrent containers and left behind.
// - handle.exec(): a command inside, through nsenter into the namespaces of the container's systemd.
// - handle.poweroff(): `systemctl poweroff`, forced after 30 s; afterwards no nspawn or container
//   process, mount, copy or cgroup of it is left on the host. Whatever is running when this process
//   exits or is interrupted (SIGINT/SIGTERM/SIGHUP) is killed then; if this process is killed
//   outright, nspawn gets SIGTERM (an orderly halt) through setpriv --pdeathsig.
//
// Every step is timed and logged (`[container NAME] boot 1.6 s (unpack 0.4 s, ...)`).

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasCommand, runCommand } from '../../scripts/lab/netns.ts';

export const CACHE_DIR = '/var/cache/phantommesh-test';
const SUITE = 'bookworm';

/** What debootstrap installs on top of minbase. libpam-systemd: polkitd does not configure without
 *  it; libstdc++6: the helper's bundled Node needs it. */
export const ROOT_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysv',
  'libpam-systemd',
  'dbus',
  'polkitd',
  'pkexec',
  'iproute2',
  'nftables',
  'adduser',
  'wireguard-go',
  'wireguard-tools',
  'iputils-ping',
  'libxml2-utils',
  'procps',
  'libstdc++6',
];

const CONTAINER_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
/** Inside the private mount namespace only: the tmpfs the copy of the root lives in. */
const RUN_DIR = '/run/systemd';
const ROOT_IN_TMPFS = `${RUN_DIR}/phantommesh-root`;
/** nspawn's exit status when the container asked for a reboot. */
const REBOOT_STATUS = 133;

// ---------------------------------------------------------------------------------------------
// Logging and timing

export function log(line: string): void {
  console.log(line);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Runs `fn`, logging `label` with how long it took (also when it fails). */
export async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  let ok = false;
  try {
    const value = await fn();
    ok = true;
    return value;
  } finally {
    log(`${label} ${ok ? '' : 'FAILED after '}${seconds(performance.now() - start)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Host commands

export interface RunResult {
  stdout: string;
  stderr: string;
  /** The exit code (0 on success). */
  code: number;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Default 60 s. */
  timeoutMs?: number;
  /** Resolve with a non-zero exit code instead of rejecting (a timeout still rejects). */
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
}

export class CommandError extends Error {
  readonly result: RunResult | undefined;
  constructor(message: string, result?: RunResult) {
    super(message);
    this.result = result;
  }
}

const inFlight = new Set<ChildProcess>();

/** Runs a command (no shell); rejects with its output unless it exits 0 or `allowFail` is set. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeout = opts.timeoutMs ?? 60_000;
  const { error, stdout, stderr } = await runCommand(
    cmd,
    args,
    {
      timeout,
      killSignal: 'SIGKILL',
      maxBuffer: 256 * 1024 * 1024,
      env: opts.env ?? process.env,
      input: opts.input,
    },
    inFlight,
  );
  const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
  const result = { stdout, stderr, code };
  if (!error || (opts.allowFail && !error.killed && code > 0)) return result;
  const why = error.killed
    ? `timed out after ${seconds(timeout)}`
    : code > 0
      ? `exit ${code}`
      : error.message;
  const said = `${stdout.trim()}\n${stderr.trim()}`.trim().split('\n').slice(-40).join('\n');
  throw new CommandError(`${[cmd, ...args].join(' ')} failed (${why})${said ? `:\n${said}` : ''}`, result);
}

/** `unshare`'s arguments that run shell `script` with `args` ($1…) in a private mount namespace, the
 *  shell getting `signal` when this process dies. */
function privateMountShell(signal: 'KILL' | 'TERM', script: string, args: readonly string[]): string[] {
  return [
    '--mount',
    '--propagation',
    'private',
    'setpriv',
    '--pdeathsig',
    signal,
    '--',
    'sh',
    '-c',
    script,
    'sh',
    ...args,
  ];
}

/** Why containers cannot be booted here, or undefined when they can. */
export function missingPrerequisites(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn, nsenter)';
  const tools = ['systemd-nspawn', 'nsenter', 'unshare', 'setpriv', 'tar'];
  if (!existsSync(cachedRoot().tarball)) tools.push('debootstrap');
  const missing = tools.filter((tool) => !hasCommand(tool));
  if (missing.length > 0) {
    return `missing ${missing.join(', ')} (apt-get install systemd-container debootstrap)`;
  }
  if (!existsSync('/dev/net/tun')) return 'missing /dev/net/tun';
  if (cgroupDirs().length === 0) return 'no cgroup hierarchy found in /proc/self/cgroup';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The root

export interface CachedRoot {
  /** The debootstrap root as a tarball. */
  tarball: string;
  /** Names the tarball: the suite and a hash of the package list. */
  key: string;
}

/** zstd where installed (Priority: optional in Debian), else gzip. */
function compression(): { flag: string; extension: string } {
  return hasCommand('zstd') ? { flag: '--zstd', extension: 'zst' } : { flag: '--gzip', extension: 'gz' };
}

function cachedRoot(): CachedRoot {
  const spec = [SUITE, 'minbase', ...[...ROOT_PACKAGES].sort()].join('\n');
  const key = `${SUITE}-${createHash('sha256').update(spec).digest('hex').slice(0, 12)}`;
  return { key, tarball: join(CACHE_DIR, `${key}.tar.${compression().extension}`) };
}

/** The Debian mirror of this machine's apt sources for bookworm (deb822 first, then sources.list). */
export function debianMirror(): string {
  try {
    const text = readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8');
    for (const paragraph of text.split(/\n\s*\n/)) {
      const field = (name: string): string[] =>
        new RegExp(`^${name}:[ \\t]*(.*)$`, 'mi').exec(paragraph)?.[1]?.trim().split(/\s+/) ?? [];
      if (field('Types').includes('deb') && field('Suites').includes(SUITE)) {
        const uri = field('URIs')[0];
        if (uri) return uri;
      }
    }
  } catch {
    // No deb822 sources; try the one-line format.
  }
  try {
    for (const line of readFileSync('/etc/apt/sources.list', 'utf8').split('\n')) {
      const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
      if (match && match[2] === SUITE) return match[1]!;
    }
  } catch {
    // Neither: the default mirror.
  }
  return 'http://deb.debian.org/debian';
}

/** Builds the cached root unless it exists; a lock file makes concurrent test processes wait for one
 *  build. debootstrap works in a tmpfs in a private mount namespace, so an interrupted build leaves
 *  no mounts (it mounts /proc and /sys in the target) and no half-made tree, only a partial tarball
 *  that is removed. */
export async function ensureRoot(): Promise<CachedRoot> {
  const root = cachedRoot();
  if (existsSync(root.tarball)) return root;
  await mkdir(CACHE_DIR, { recursive: true });
  const release = await lock(join(CACHE_DIR, `${root.key}.lock`));
  const partial = `${root.tarball}.part-${process.pid}`;
  try {
    // Partial tarballs of builds killed outright.
    for (const entry of readdirSync(CACHE_DIR)) {
      const owner = /\.part-(\d+)$/.exec(entry)?.[1];
      if (owner !== undefined && !alive(Number(owner))) await rm(join(CACHE_DIR, entry), { force: true });
    }
    if (existsSync(root.tarball)) return root;
    const mirror = debianMirror();
    const build = `${RUN_DIR}/phantommesh-build`;
    // Apt's downloads and package lists are not needed in the containers.
    const script = `set -e
mkdir -p ${RUN_DIR}
mount -t tmpfs -o mode=0755 tmpfs ${RUN_DIR}
setpriv --pdeathsig KILL -- debootstrap --variant=minbase --include="$1" ${SUITE} ${build} "$2"
rm -rf ${build}/var/cache/apt/archives/*.deb ${build}/var/lib/apt/lists/*_*
echo @@debootstrap-done >&2
setpriv --pdeathsig KILL -- tar ${compression().flag} --numeric-owner --xattrs --xattrs-include='*' -cf "$3" -C ${build} .`;
    const started = performance.now();
    let tarStarted = 0;
    const child = spawn(
      'unshare',
      privateMountShell('KILL', script, [ROOT_PACKAGES.join(','), mirror, partial]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    inFlight.add(child);
    let output = '';
    const record = (chunk: Buffer): void => {
      if (chunk.includes('@@debootstrap-done')) tarStarted = performance.now();
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', record);
    child.stderr.on('data', record);
    const code = await new Promise<number | null>((resolve) =>
      child.on('close', (status) => resolve(status)),
    );
    inFlight.delete(child);
    if (code !== 0) {
      throw new Error(
        `building the container root (debootstrap from ${mirror}) failed (exit ${code}):\n${output}`,
      );
    }
    log(
      `[root] debootstrap ${SUITE} from ${mirror} ${seconds(tarStarted - started)}, ` +
        `tarball ${seconds(performance.now() - tarStarted)}: ${root.tarball}`,
    );
    await rename(partial, root.tarball);
    return root;
  } finally {
    await rm(partial, { force: true });
    await release();
  }
}

/** An exclusive lock file holding our PID; a lock whose holder is gone is taken over. */
async function lock(path: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => unlink(path).catch(() => {});
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      await unlink(path).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${path} is held by process ${holder} for too long`);
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------
// Processes and cgroups

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie has ended; only its parent's wait is missing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** The PIDs whose parent is `ppid` and whose command name is `comm`. */
function childrenOf(ppid: number, comm: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      if (Number(stat.slice(close + 2).split(' ')[1]) === ppid && name === comm) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    if (pid > 0) process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** This process's cgroup directories in the hierarchies nspawn uses: the unified one (cgroup2) and
 *  the name=systemd v1 one on hybrid hosts. */
function cgroupDirs(): string[] {
  const mounts = new Map<string, string>();
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const [before, after] = line.split(' - ');
      if (!before || !after) continue;
      const mountPoint = before.split(' ')[4]!;
      const [fstype, , options = ''] = after.split(' ');
      if (fstype === 'cgroup2') mounts.set('', mountPoint);
      else if (fstype === 'cgroup' && options.split(',').includes('name=systemd'))
        mounts.set('name=systemd', mountPoint);
    }
    const dirs: string[] = [];
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
      const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
      const mountPoint = controllers === undefined ? undefined : mounts.get(controllers);
      if (mountPoint !== undefined && path !== undefined) dirs.push(join(mountPoint, path));
    }
    return dirs;
  } catch {
    return [];
  }
}

/** Removes a cgroup and its descendants, deepest first (rmdir works on empty cgroups only);
 *  whether it is gone. */
function removeCgroup(dir: string): boolean {
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) removeCgroup(join(dir, entry.name));
    }
    rmdirSync(dir);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** Removes cgroups of earlier runs whose process is gone (a run killed outright). */
function removeStaleCgroups(): void {
  for (const parent of cgroupDirs()) {
    let entries: string[];
    try {
      entries = readdirSync(parent);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const owner = /^phantommesh-test-(\d+)-\d+$/.exec(entry)?.[1];
      if (owner !== undefined && Number(owner) !== process.pid && !alive(Number(owner))) {
        removeCgroup(join(parent, entry));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Containers

export interface Bind {
  /** Path on the host (not under /run/systemd, which the container's tmpfs hides). */
  host: string;
  /** Path inside the container. */
  container: string;
  /** Read-only unless set. */
  writable?: boolean;
}

export interface BootOptions {
  bind?: readonly Bind[];
  /** How long a boot may take until `systemctl is-system-running` settles; default 90 s. */
  timeoutMs?: number;
}

export interface ExecOptions {
  /** Run as this user (runuser -u USER: with the user's groups from /etc/group). */
  user?: string;
  input?: string | Buffer;
  /** Resolve with a non-zero exit code instead of rejecting. */
  allowFail?: boolean;
  /** Default 60 s. */
  timeoutMs?: number;
  /** Extra environment; commands start from an empty one with PATH and LANG. */
  env?: Record<string, string>;
}

export interface Container {
  readonly name: string;
  /** The nspawn process on the host (0 once powered off). */
  readonly nspawnPid: number;
  /** The container's systemd (PID 1 inside) as a host PID (0 once powered off). */
  readonly initPid: number;
  /** `systemctl is-system-running` after the last boot: running or degraded. */
  readonly systemState: string;
  /** `systemctl --failed` after the last boot; empty when running. */
  readonly failedUnits: string;
  /** Runs a command inside; rejects on a non-zero exit unless `allowFail`. */
  exec(cmd: string, args?: readonly string[], opts?: ExecOptions): Promise<RunResult>;
  /** What the wrapper, nspawn and the container's console printed (the last 2000 lines). */
  console(): string;
  /** `systemctl reboot`: the same root (with what was installed) boots again. */
  reboot(): Promise<void>;
  /** Powers off and removes everything the container had on the host; safe to call twice. */
  poweroff(): Promise<void>;
}

interface Wrapper {
  child: ChildProcess;
  /** Resolves with the wrapper's exit status once it and its output are done. */
  exited: Promise<number | null>;
  lines: string[];
  /** When each @@marker line appeared. */
  marks: Map<string, number>;
  cgroups: string[];
}

/** The wrapper: a private mount namespace with the tmpfs, the root unpacked, nspawn booted again as
 *  long as the container reboots. Arguments: the tarball, then nspawn's. */
const WRAPPER = `set -u
for dir in $PM_CGROUPS; do echo $$ > "$dir/cgroup.procs" || exit 90; done
mkdir -p ${RUN_DIR} && mount -t tmpfs -o mode=0755 tmpfs ${RUN_DIR} || exit 91
mkdir ${ROOT_IN_TMPFS} || exit 92
tar $PM_COMPRESSION --numeric-owner --xattrs --xattrs-include='*' -xpf "$1" -C ${ROOT_IN_TMPFS} || exit 93
# debootstrap copied the host's name; without the file the container is called by its machine name.
rm -f ${ROOT_IN_TMPFS}/etc/hostname
shift
echo @@unpacked >&2
while :; do
  setpriv --pdeathsig TERM -- systemd-nspawn -D ${ROOT_IN_TMPFS} "$@"
  status=$?
  [ $status -eq ${REBOOT_STATUS} ] || exit $status
  echo @@rebooting >&2
done`;

let containers = 0;
/** Running containers: what to kill when the process exits or is interrupted. */
const live = new Set<{ wrapper(): Wrapper | undefined; pids(): number[] }>();

/** Boots a container named `name` (its machine name and hostname) from the cached root. */
export async function boot(name: string, options: BootOptions = {}): Promise<Container> {
  const reason = missingPrerequisites();
  if (reason !== undefined) throw new Error(`cannot boot a container: ${reason}`);
  const root = await ensureRoot();
  removeStaleCgroups();
  const label = `[container ${name}]`;
  const timeoutMs = options.timeoutMs ?? 90_000;
  containers += 1;
  const cgroups = cgroupDirs().map((dir) => join(dir, `phantommesh-test-${process.pid}-${containers}`));

  let wrapper: Wrapper | undefined;
  let initPid = 0;
  let nspawnPid = 0;
  let gone = false;
  let state = { state: '', failed: '' };
  const entry = { wrapper: () => wrapper, pids: () => [initPid, nspawnPid] };
  live.add(entry);
  hookExit();

  const start = async (): Promise<void> => {
    for (const dir of cgroups) await mkdir(dir, { recursive: true });
    const nspawnArgs = [
      '--boot',
      `--machine=${name}`,
      '--register=no',
      '--keep-unit',
      '--private-network',
      '--bind=/dev/net/tun',
      '--capability=all',
      '--system-call-filter=bpf',
      ...(options.bind ?? []).map((b) => `--bind${b.writable ? '' : '-ro'}=${b.host}:${b.container}`),
      '--console=pipe',
    ];
    const child = spawn('unshare', privateMountShell('TERM', WRAPPER, [root.tarball, ...nspawnArgs]), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1',
        PM_CGROUPS: cgroups.join(' '),
        PM_COMPRESSION: root.tarball.endsWith('.zst') ? '--zstd' : '--gzip',
      },
    });
    const lines: string[] = [];
    const marks = new Map<string, number>();
    const partial = { stdout: '', stderr: '' };
    const record = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
      const parts = (partial[stream] + chunk.toString()).split('\n');
      partial[stream] = parts.pop() ?? '';
      for (const line of parts) {
        if (line.startsWith('@@')) marks.set(line.slice(2), performance.now());
        else lines.push(line);
      }
      if (lines.length > 2000) lines.splice(0, lines.length - 2000);
    };
    child.stdout.on('data', (chunk: Buffer) => record('stdout', chunk));
    child.stderr.on('data', (chunk: Buffer) => record('stderr', chunk));
    const exited = new Promise<number | null>((resolve) => {
      child.on('error', (error) => lines.push(`${label} ${error.message}`));
      child.on('close', (code) => resolve(code));
    });
    wrapper = { child, exited, lines, marks, cgroups };
  };

  const running = (): boolean =>
    wrapper !== undefined && wrapper.child.exitCode === null && wrapper.child.signalCode === null;

  /** Waits for a systemd (other than `previous`) under nspawn under the wrapper. */
  const attach = async (previous: number, deadline: number): Promise<void> => {
    for (;;) {
      if (!running()) {
        throw new Error(`${label} stopped while booting (exit ${wrapper?.child.exitCode}):\n${tail(60)}`);
      }
      if (Date.now() > deadline)
        throw new Error(`${label} no systemd started in the container:\n${tail(60)}`);
      for (const nspawn of childrenOf(wrapper!.child.pid!, 'systemd-nspawn')) {
        const init = childrenOf(nspawn, 'systemd').find((pid) => pid !== previous);
        if (init !== undefined) {
          nspawnPid = nspawn;
          initPid = init;
          return;
        }
      }
      await sleep(25);
    }
  };

  /** A command inside the running container, also while the handle powers it off. */
  const inside = async (
    cmd: string,
    args: readonly string[] = [],
    opts: ExecOptions = {},
  ): Promise<RunResult> => {
    if (!running() || initPid === 0) throw new Error(`${label} is not running`);
    const env = Object.entries({ PATH: CONTAINER_PATH, LANG: 'C.UTF-8', ...opts.env }).map(
      ([k, v]) => `${k}=${v}`,
    );
    const user = opts.user ? ['runuser', '-u', opts.user, '--'] : [];
    const namespaces = ['-m', '-u', '-i', '-n', '-p', '-C', '-r', '-w'];
    return run(
      'nsenter',
      ['-t', String(initPid), ...namespaces, '/usr/bin/env', '-i', ...env, ...user, cmd, ...args],
      { input: opts.input, allowFail: opts.allowFail, timeoutMs: opts.timeoutMs },
    );
  };

  const exec = (cmd: string, args: readonly string[] = [], opts: ExecOptions = {}): Promise<RunResult> =>
    gone ? Promise.reject(new Error(`${label} was powered off`)) : inside(cmd, args, opts);

  const tail = (count: number): string => wrapper?.lines.slice(-count).join('\n') ?? '';

  /** Waits for `systemctl is-system-running` to say running or degraded. */
  const settle = async (deadline: number): Promise<void> => {
    let said: string;
    for (;;) {
      if (!running()) throw new Error(`${label} stopped while booting:\n${tail(60)}`);
      const result = await inside('systemctl', ['is-system-running'], {
        allowFail: true,
        timeoutMs: 10_000,
      }).catch((error: Error) => ({ stdout: error.message, code: -1 }));
      said = result.stdout.trim();
      if (said === 'running' || said === 'degraded') break;
      if (Date.now() > deadline) {
        const jobs = await inside('systemctl', ['list-jobs', '--no-pager'], { allowFail: true }).catch(
          (error: Error) => ({ stdout: error.message }),
        );
        throw new Error(
          `${label} did not finish booting (systemctl is-system-running: ${said}); jobs:\n${jobs.stdout}\n` +
            `console:\n${tail(60)}`,
        );
      }
      await sleep(50);
    }
    const failed =
      said === 'degraded'
        ? (
            await inside('systemctl', ['--failed', '--no-legend', '--no-pager'], { allowFail: true })
          ).stdout.trim()
        : '';
    if (failed) log(`${label} degraded; failed units:\n${failed}`);
    state = { state: said, failed };
  };

  /** The first boot, or the boot after a reboot (`previous` = the old systemd). */
  const bootUp = async (previous: number): Promise<string> => {
    const began = performance.now();
    const deadline = Date.now() + timeoutMs;
    await attach(previous, deadline);
    const systemdAt = performance.now();
    await settle(deadline);
    const unpacked = wrapper!.marks.get('unpacked');
    const phases =
      previous === 0 && unpacked !== undefined
        ? `unpack ${seconds(unpacked - began)}, nspawn to systemd ${seconds(systemdAt - unpacked)}`
        : `nspawn to systemd ${seconds(systemdAt - began)}`;
    return `${phases}, systemd to ${state.state} ${seconds(performance.now() - systemdAt)}`;
  };

  /** Asks systemd to power off, waits for the wrapper to end, kills it when it does not. */
  const halt = async (): Promise<void> => {
    const current = wrapper;
    if (!current) return;
    if (running()) {
      await inside('systemctl', ['poweroff'], { allowFail: true, timeoutMs: 10_000 }).catch(() => {});
      if (!(await within(current.exited, 30_000))) {
        log(`${label} did not power off within 30 s; killing it`);
        kill(current, [initPid, nspawnPid]);
        await within(current.exited, 10_000);
      }
    }
    await waitFor(() => !alive(initPid) && !alive(nspawnPid), 10_000);
    for (const dir of current.cgroups) {
      await waitFor(() => removeCgroup(dir), 5_000);
    }
    initPid = 0;
    nspawnPid = 0;
    wrapper = undefined;
  };

  try {
    const started = performance.now();
    await start();
    const phases = await bootUp(0);
    log(`${label} boot ${seconds(performance.now() - started)} (${phases})`);
  } catch (error) {
    await halt().catch(() => {});
    live.delete(entry);
    throw error;
  }

  return {
    name,
    get nspawnPid() {
      return nspawnPid;
    },
    get initPid() {
      return initPid;
    },
    get systemState() {
      return state.state;
    },
    get failedUnits() {
      return state.failed;
    },
    exec,
    console: () => tail(2000),
    async reboot() {
      if (gone) throw new Error(`${label} was powered off`);
      const started = performance.now();
      const previous = initPid;
      await inside('systemctl', ['reboot'], { allowFail: true, timeoutMs: 10_000 }).catch(() => {});
      const deadline = Date.now() + timeoutMs;
      await waitFor(() => !alive(previous), timeoutMs);
      const phases = await bootUp(previous).catch((error: Error) => {
        throw new Error(`${label} reboot: ${error.message}`);
      });
      if (Date.now() > deadline) throw new Error(`${label} reboot took too long`);
      log(`${label} reboot ${seconds(performance.now() - started)} (${phases})`);
    },
    async poweroff() {
      if (gone) return;
      gone = true;
      try {
        await timed(`${label} power off`, halt);
      } finally {
        live.delete(entry);
      }
    },
  };
}

function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
}

async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (done()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** Kills the container outright: every process in its cgroup (cgroup.kill: the wrapper, nspawn,
 *  the container's processes), then, where that file is missing (kernels before 5.14), its PID 1
 *  (which ends its PID namespace), nspawn and the wrapper by PID. */
function kill(wrapper: Wrapper, pids: readonly number[]): void {
  for (const dir of wrapper.cgroups) {
    try {
      writeFileSync(join(dir, 'cgroup.kill'), '1');
    } catch {
      // Not the unified hierarchy, or an older kernel.
    }
  }
  for (const pid of [...pids, wrapper.child.pid ?? 0]) signal(pid, 'SIGKILL');
}

// ---------------------------------------------------------------------------------------------
// Teardown on exit and interruption

function releaseAllSync(): void {
  for (const child of inFlight) child.kill('SIGKILL');
  const entries = [...live];
  live.clear();
  const cgroups: string[] = [];
  for (const entry of entries) {
    const wrapper = entry.wrapper();
    if (!wrapper) continue;
    kill(wrapper, entry.pids());
    cgroups.push(...wrapper.cgroups);
  }
  // The killed processes take a moment to leave their cgroups (the tmpfs with the root is freed
  // then), and this process may not get that moment: under node --test an interrupted test file is
  // killed soon after. A detached shell removes the cgroups once they are empty.
  const left = cgroups.filter((dir) => !removeCgroup(dir));
  if (left.length > 0) {
    const script =
      'for i in $(seq 200); do left=0; for d in "$@"; do [ -d "$d" ] || continue; ' +
      'find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; [ -d "$d" ] && left=1; done; ' +
      '[ $left = 0 ] && exit 0; sleep 0.05; done';
    spawn('sh', ['-c', script, 'sh', ...left], { detached: true, stdio: 'ignore' }).unref();
  }
}

let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', releaseAllSync);
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // `on`, not `once`, and for good: a signal without a listener kills the process at once, and
    // under node --test a second SIGTERM follows the first (the runner aborts the file's process),
    // which would land in the middle of the teardown.
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      // Kill first; a write to a closed pipe (the runner gone) may throw.
      releaseAllSync();
      try {
        console.error(`\n${sig}: stopped the test containers`);
      } catch {
        // Nobody is listening.
      }
      process.exit(128 + osConstants.signals[sig]);
    });
  }
}
