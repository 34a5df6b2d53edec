// `npm run bench`: what the data path costs. Handshake time, per-packet AEAD through node:crypto and
// through noble, and TCP throughput through PhantomMesh <-> wireguard-go against wireguard-go <->
// wireguard-go on the same namespace path, printed as a ratio; then the handshake flood benchmark
// (bench-flood.ts) and throughput by transport, UDP against the relay's tcp:// and wss://
// (bench-transports.ts), and the service's start-up time and memory (bench-service.ts). Figures only: nothing here passes or fails on speed.

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { spawnSync } from 'node:child_process';
import { CookieGenerator } from '../helper/src/wireguard/cookie.ts';
import { generatePrivateKey, seal, staticKey } from '../helper/src/wireguard/crypto.ts';
import { transportCipher, transportCipherBackend } from '../helper/src/wireguard/transport-cipher.ts';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSessionKeys,
  Handshake,
} from '../helper/src/wireguard/noise.ts';
import { tai64n } from '../helper/src/wireguard/tai64n.ts';
import { iperf3Client, iperf3Server, missingPrerequisites, ping } from './lab/netns.ts';
import { INNER, startReferencePair, startTunnelPair } from './lab/tunnel-pair.ts';

function measure(label: string, iterations: number, body: () => void): number {
  for (let i = 0; i < Math.min(1000, iterations / 10); i++) body();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) body();
  const micros = ((performance.now() - start) * 1000) / iterations;
  console.log(`  ${label.padEnd(64)} ${micros.toFixed(2).padStart(9)} µs`);
  return micros;
}

console.log('Handshake (both roles, in process, including X25519 and macs)');
const initiatorKey = staticKey(generatePrivateKey());
const responderKey = staticKey(generatePrivateKey());
let wall = Date.now();
const bothSides = measure('initiation + response + session keys', 300, () => {
  const initiator = new Handshake(responderKey.publicKey, initiatorKey);
  const responder = new Handshake(initiatorKey.publicKey, responderKey);
  const initiation = createInitiation(initiatorKey, initiator, {
    localIndex: 1,
    timestamp: tai64n((wall += 50)),
  })!;
  new CookieGenerator(responderKey.publicKey).addMacs(initiation, 0);
  consumeInitiation(responderKey, initiation, () => responder, 0);
  const response = createResponse(responder, { localIndex: 2 })!;
  new CookieGenerator(initiatorKey.publicKey).addMacs(response, 0);
  consumeResponse(initiatorKey, initiator, response);
  deriveSessionKeys(initiator);
  deriveSessionKeys(responder);
});

// What one end of a warm handshake costs (issue 17's target: <= 1 ms): the two roles do about the
// same work (two X25519s and a static one each, the macs, the KDF chain), so half of both together.
console.log(
  `  one side of a warm handshake (half of the above)${' '.repeat(15)}${(bothSides / 2).toFixed(2).padStart(9)} µs`,
);

console.log('\nChaCha20-Poly1305 per 1420-byte packet');
const key = generatePrivateKey();
const packet = Buffer.alloc(1420, 7);
const nonce = Buffer.alloc(12);
measure('seal, node:crypto createCipheriv', 20_000, () => seal(key, 1n, packet));
const nobleSeal = measure('seal, @noble/ciphers', 20_000, () => chacha20poly1305(key, nonce).encrypt(packet));
const body = Buffer.from(packet);
const tag = Buffer.alloc(16);
for (const backend of ['openssl', 'node:crypto'] as const) {
  if (backend === 'openssl' && transportCipherBackend() !== 'openssl') {
    console.log('  transport cipher, OpenSSL EVP: not reachable on this system');
    continue;
  }
  const sealer = transportCipher(key, 'seal', backend);
  const opener = transportCipher(key, 'open', backend);
  const what = `transport cipher, ${backend === 'openssl' ? 'OpenSSL EVP through koffi' : 'node:crypto'}`;
  const sealUs = measure(`seal in place, ${what}`, 100_000, () => sealer.seal(1n, body, tag));
  const roundUs = measure(`seal + open in place, ${what}`, 100_000, () => {
    sealer.seal(1n, body, tag);
    opener.open(1n, body, tag);
  });
  console.log(`  ${backend}: seals ${(nobleSeal / sealUs).toFixed(1)}x faster than noble`);
  console.log(`  ${backend}: one core seals and opens ${(1e6 / roundUs).toFixed(0)} packets/s`);
}

const reason = missingPrerequisites();
if (reason) {
  console.log(`\nThroughput: skipped, ${reason}`);
} else {
  console.log('\nTCP throughput, iperf3 5 s each way through the tunnel (Mbit/s)');
  const seconds = 5;
  const run = async (
    setup: () => Promise<{ topology: { a: { ns: string }; b: { ns: string } }; destroy(): Promise<void> }>,
  ) => {
    const pair = await setup();
    try {
      await ping(pair.topology.a.ns, INNER.theirs4, { count: 1 });
      const server = await iperf3Server(pair.topology.b.ns);
      const up = await iperf3Client(pair.topology.a.ns, INNER.theirs4, { seconds });
      const down = await iperf3Client(pair.topology.a.ns, INNER.theirs4, { seconds, reverse: true });
      await server.stop();
      return { up: up / 1e6, down: down / 1e6 };
    } finally {
      await pair.destroy();
    }
  };
  const ours = await run(() => startTunnelPair());
  const reference = await run(startReferencePair);
  const row = (label: string, r: { up: number; down: number }) =>
    console.log(
      `  ${label.padEnd(36)} up ${r.up.toFixed(0).padStart(5)}   down ${r.down.toFixed(0).padStart(5)}`,
    );
  row('PhantomMesh <-> wireguard-go', ours);
  row('wireguard-go <-> wireguard-go', reference);
  console.log(
    `  ratio PhantomMesh / wireguard-go:     up ${(ours.up / reference.up).toFixed(2)}   down ${(ours.down / reference.down).toFixed(2)}`,
  );
}

if (!reason) {
  console.log('');
  // Its own process: it builds and tears down its own namespaces, and runs alone on the cores.
  const flood = new URL('./bench-flood.ts', import.meta.url).pathname;
  spawnSync(process.execPath, [flood, '--seconds', '8'], { stdio: 'inherit' });
  console.log('');
  const transports = new URL('./bench-transports.ts', import.meta.url).pathname;
  spawnSync(process.execPath, [transports, '--seconds', '5'], { stdio: 'inherit' });
  console.log('');
  const service = new URL('./bench-service.ts', import.meta.url).pathname;
  spawnSync(process.execPath, [service], { stdio: 'inherit' });
}
