import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

/** The test harness: the demo and the benchmarks use the lab (scripts/lab/) it builds on, not it. */
const TEST_HARNESS = {
  group: ['**/test/**'],
  message: 'Scripts use scripts/lab/, which the tests build on; they do not import the tests.',
};

/** The seams: the only files of the helper that import a _linux.ts, _darwin.ts or _windows.ts file
 *  (besides other files of that OS). */
const SEAMS = [
  'helper/src/tun/tun.ts',
  'helper/src/conn/{bind,marked-socket}.ts',
  'helper/src/net/{net,dns,killswitch,network-journal}.ts',
  'helper/src/control/{peercred,listener}.ts',
  'helper/src/service/{sd-notify,network-watch,paths,memory-release}.ts',
  'helper/src/privileges.ts',
  'helper/src/uapi/server.ts', // the UAPI's transport: a Unix socket, or on Windows uapi/pipe_windows.ts
];

/** Helper internals: outside helper/, only shared/ and the control API. */
const HELPER_INTERNALS = {
  group: ['**/helper/src/**'],
  message: 'Use the helper through shared/ and its control API, not its internals.',
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // Packet code indexes buffers and maps whose bounds were checked a line earlier.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  // ---- the WireGuard protocol core does no I/O and knows none of its adapters (docs/architecture.md,
  // "Boundaries"): no files, sockets, processes or threads, nothing from the modules that drive it.
  // koffi stays allowed in openssl.ts and transport-cipher.ts: the data path seals and opens with
  // OpenSSL's ChaCha20-Poly1305 (the libcrypto Node already loaded) called through koffi, in memory.
  ...[
    { files: ['helper/src/wireguard/**'], ignores: ['helper/src/wireguard/{openssl,transport-cipher}.ts'] },
    { files: ['helper/src/wireguard/{openssl,transport-cipher}.ts'], allowKoffi: true },
  ].map(({ allowKoffi, ...files }) => ({
    ...files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['fs', 'net', 'dgram', 'child_process', 'worker_threads']
                .flatMap((name) => [name, `${name}/*`, `node:${name}`, `node:${name}/*`])
                .concat(allowKoffi ? [] : ['koffi']),
              message: 'The protocol core does no I/O: its runner drives it through DeviceIO.',
            },
            {
              group: ['uapi', 'tun', 'conn', 'net', 'service', 'tunnel', 'control'].flatMap((dir) => [
                `../${dir}`,
                `../${dir}/*`,
              ]),
              message: 'The protocol core imports none of the modules that drive it; they import it.',
            },
          ],
        },
      ],
    },
  })),
  // ---- end of the protocol core boundary
  // ---- OS seams: the service and everything above it import a seam (tun.ts, net/dns.ts, ...), never
  // an OS's implementation; a new OS adds its files beside the seam and one line in it.
  {
    files: ['helper/src/**'],
    ignores: ['helper/src/**/*_{linux,darwin,windows}.ts', 'helper/src/wireguard/**', ...SEAMS],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '_linux\\.ts$',
              message: 'Import the seam (e.g. ../net/dns.ts), not an OS implementation.',
            },
            {
              regex: '_darwin\\.ts$',
              message: 'Import the seam (e.g. ../net/dns.ts), not an OS implementation.',
            },
            {
              regex: '_windows\\.ts$',
              message: 'Import the seam (e.g. ../net/dns.ts), not an OS implementation.',
            },
          ],
        },
      ],
    },
  },
  // The macOS files import each other and the seams' types, never a Linux file.
  {
    files: ['helper/src/**/*_darwin.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '_linux\\.ts$',
              message: 'A macOS file does not import a Linux one.',
            },
          ],
        },
      ],
    },
  },
  // The Windows files import each other and the seams' types, never a Linux or macOS file.
  {
    files: ['helper/src/**/*_windows.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '_(linux|darwin)\\.ts$',
              message: 'A Windows file does not import a Linux or macOS one.',
            },
          ],
        },
      ],
    },
  },
  // ---- end of OS seams
  // ---- the relay's wire formats (transport/) are pure: the relay and the client transports both parse
  // and frame with them, so they do no I/O and import nothing but each other and shared/. The relay
  // (relay/) is a program of its own beside the helper: it builds on transport/ and shared/, and takes
  // only the metrics Host check from the service. One rule name per file, so each block repeats the
  // OS seams' rule.
  {
    files: ['helper/src/transport/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['fs', 'net', 'dgram', 'tls', 'http', 'https', 'dns', 'child_process', 'worker_threads']
                .flatMap((name) => [name, `${name}/*`, `node:${name}`, `node:${name}/*`])
                .concat(['koffi', 'ws']),
              message: 'The wire formats do no I/O: the relay and the client transports do it with them.',
            },
            {
              regex: '^\\.\\./(?!\\.\\./\\.\\./shared/)',
              message: 'The wire formats import only each other and shared/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['helper/src/relay/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '_linux\\.ts$',
              message: 'Import the seam (e.g. ../net/dns.ts), not an OS implementation.',
            },
            {
              regex: '^\\.\\./(?!transport/|service/metrics\\.ts$|\\.\\./\\.\\./shared/)',
              message:
                'The relay uses transport/, shared/ and the metrics Host check, nothing of the client.',
            },
          ],
        },
      ],
    },
  },
  // ---- end of the relay boundaries
  // ---- app boundaries: the app reaches the helper only through its control API, the renderer the
  // main process only through `window.phantommesh`, the preload only Electron and the shared contract.
  // One rule name per file, so each block repeats what the blocks before it forbid.
  {
    files: ['app/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [HELPER_INTERNALS] }] },
  },
  {
    files: ['scripts/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [HELPER_INTERNALS, TEST_HARNESS] }] },
  },
  {
    // The helper's own tools, which drive its code directly.
    files: [
      'scripts/bench.ts', // microbenchmarks of the data path: crypto, Noise, cookies, the transport cipher
      'scripts/lab/bare-forwarder.ts', // the runtime's latency floor: the helper's libc calls and cipher, no protocol
    ],
    rules: { 'no-restricted-imports': ['error', { patterns: [TEST_HARNESS] }] },
  },
  {
    files: ['app/renderer/**'],
    ignores: ['app/renderer/vite.config.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              message: 'The renderer is sandboxed: it has window.phantommesh, not Electron.',
            },
            ...builtinModules.map((name) => ({
              name,
              message: 'The renderer is sandboxed: no Node modules.',
            })),
          ],
          patterns: [
            HELPER_INTERNALS,
            { regex: '^node:', message: 'The renderer is sandboxed: no Node modules.' },
            {
              regex: '^(\\.\\./)+main/',
              message: 'The renderer reaches the main process only through window.phantommesh.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['app/preload/**'],
    ignores: ['app/preload/vite.config.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!electron$|\\./|(\\.\\./)+shared/)',
              message: 'The preload imports only electron, the shared IPC contract and its own files.',
            },
          ],
        },
      ],
    },
  },
  // ---- end of app boundaries
);
