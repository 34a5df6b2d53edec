// Runs one scenario of a test file in a network namespace of its own: `unshare --net` starts the file
// again with PMT_SCENARIO set, the file hands its scenarios to serveScenario(), and the scenario's
// result comes back as JSON for the test to assert on. The namespace lives exactly as long as that
// child, so nothing it configured can outlive it, even when the test run is killed.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const RESULT_MARK = 'PMT_RESULT ';

/** Why scenarios cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (creates network namespaces and TUN devices)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  return undefined;
}

export interface ScenarioOptions {
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Run the child as root without any capability (setpriv), to see permission errors. */
  withoutCapabilities?: boolean;
  /** Also give the child a private mount namespace, so it may mount over system paths. */
  privateMounts?: boolean;
  /** Default 20 s. */
  timeoutMs?: number;
}

/** Runs scenario `name` of test file `file` (pass import.meta.url) in a fresh network namespace. */
export function runScenario<T>(file: string, name: string, options: ScenarioOptions = {}): Promise<T> {
  const node = [process.execPath, fileURLToPath(file)];
  const command = options.withoutCapabilities
    ? ['setpriv', '--bounding-set=-all', '--inh-caps=-all', '--ambient-caps=-all', '--', ...node]
    : node;
  // unshare --mount makes every mount private to the child.
  const namespaces = options.privateMounts ? ['--net', '--mount'] : ['--net'];
  return scenarioChild<T>(
    `scenario ${name}`,
    'unshare',
    [...namespaces, '--', ...command],
    { ...process.env, ...options.env, PMT_SCENARIO: name },
    options.timeoutMs ?? 20_000,
  );
}

/** Runs a scenario child (`cmd` starts the test file again, with PMT_SCENARIO in `env`) and returns
 *  the result it printed; `label` names it in the error when it fails or prints none. */
export function scenarioChild<T>(
  label: string,
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARK));
        if (error || line === undefined)
          return reject(new Error(`${label} failed: ${error?.message ?? 'no result'}\n${stdout}${stderr}`));
        resolve(JSON.parse(line.slice(RESULT_MARK.length)) as T);
      },
    );
  });
}

/** runScenario for the scenarios of test file `file` (pass import.meta.url), typed by their results. */
export function scenarioRunner<S extends Record<string, () => Promise<unknown>>>(
  file: string,
  _scenarios: S,
) {
  return <K extends keyof S & string>(
    name: K,
    options?: ScenarioOptions,
  ): Promise<Awaited<ReturnType<S[K]>>> => runScenario(file, name, options);
}

/** In the child: the scenario to run instead of registering tests. */
export function scenarioRequested(): string | undefined {
  return process.env.PMT_SCENARIO;
}

/** In the child: runs scenario `name` and prints its result for runScenario(). A new namespace has
 *  only a loopback interface, and it is down. */
export async function serveScenario(
  scenarios: Record<string, () => Promise<unknown>>,
  name: string,
): Promise<void> {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`no scenario ${name}`);
  const result = await scenario();
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
  // Whatever a scenario left open (sockets, TUN fds) goes with the process.
  process.exit(0);
}
