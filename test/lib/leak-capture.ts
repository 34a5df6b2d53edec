// Leak capture for the kill-switch tests: tcpdump records what a namespace sends on one interface (its
// physical link) while a probe process in that namespace keeps sending ICMP, UDP and TCP to the
// addresses a leak would go to; tshark reads the capture back, and every packet is checked against
// the few things that may cross that link with the kill switch on:
//
// - WireGuard's UDP to a tunnel's endpoint, in WireGuard's framing (the helper's own socket);
// - TCP to a relay (or proxy) a tunnel is carried through, when the scenario names one;
// - ARP, and IPv6 neighbour discovery to link-local or link-scope multicast addresses;
// - DHCPv4 to the broadcast address (or a server named in `dhcpServers`), DHCPv6 link-local.
//
// Anything else that left is a leak, listed with its time, addresses and tshark's summary. Only
// system tools look at the packets (tcpdump, tshark), never the code under test.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, hasCommand, removeOnCleanup, skipOutsideCi, spawnIn, testSkipReason } from './netns.ts';

/** Why the leak tests cannot run here (see skipOutsideCi), or false. */
export function leakTestSkipReason(): string | false {
  const lab = testSkipReason();
  if (lab) return lab;
  const missing = ['tcpdump', 'tshark'].filter((tool) => !hasCommand(tool));
  return skipOutsideCi(
    missing.length > 0 && `missing ${missing.join(', ')} (apt-get install tcpdump tshark)`,
  );
}

// ---------------------------------------------------------------------------------------------
// What may cross the physical link

export interface Endpoint {
  address: string;
  port: number;
}

export interface AllowedTraffic {
  /** The tunnels' endpoints: UDP to these in WireGuard's framing is the tunnel itself. */
  endpoints: readonly Endpoint[];
  /** DHCPv4 servers a renewal may go to besides 255.255.255.255 (none by default). */
  dhcpServers?: readonly string[];
  /** Relays (or proxies) a tunnel is carried through: TCP to these is the tunnel itself. */
  relays?: readonly Endpoint[];
}

/** One packet sent on the link, as tshark decoded it. */
export interface CapturedPacket {
  /** Seconds since the epoch (the wall clock, as Date.now() / 1000). */
  time: number;
  kind: 'arp' | 'ipv4' | 'ipv6' | 'other';
  src: string;
  dst: string;
  /** 'icmp', 'icmpv6', 'udp', 'tcp' or the IP protocol number. */
  protocol: string;
  sport?: number;
  dport?: number;
  icmpType?: number;
  /** TCP flags as tshark's hex (0x002 = SYN). */
  tcpFlags?: string;
  /** UDP payload length, and its first bytes in hex (the capture keeps 256 bytes of each frame). */
  udpLength?: number;
  udpPayload?: string;
  /** tshark's one-line summary. */
  info: string;
}

const FIELDS = [
  'frame.time_epoch',
  'eth.type',
  'arp.src.proto_ipv4',
  'arp.dst.proto_ipv4',
  'ip.src',
  'ip.dst',
  'ip.proto',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.nxt',
  'udp.srcport',
  'udp.dstport',
  'udp.length',
  'udp.payload',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags',
  'icmp.type',
  'icmpv6.type',
  '_ws.col.Info',
] as const;

type Row = Record<(typeof FIELDS)[number], string>;

const num = (text: string): number | undefined => (text === '' ? undefined : Number(text));

function packetOf(row: Row): CapturedPacket {
  const ethType = row['eth.type'];
  const kind =
    ethType === '0x0806' ? 'arp' : ethType === '0x0800' ? 'ipv4' : ethType === '0x86dd' ? 'ipv6' : 'other';
  const src = kind === 'arp' ? row['arp.src.proto_ipv4'] : kind === 'ipv4' ? row['ip.src'] : row['ipv6.src'];
  const dst = kind === 'arp' ? row['arp.dst.proto_ipv4'] : kind === 'ipv4' ? row['ip.dst'] : row['ipv6.dst'];
  const protocol =
    row['icmpv6.type'] !== ''
      ? 'icmpv6'
      : row['icmp.type'] !== ''
        ? 'icmp'
        : row['udp.dstport'] !== ''
          ? 'udp'
          : row['tcp.dstport'] !== ''
            ? 'tcp'
            : kind === 'ipv4'
              ? row['ip.proto']
              : kind === 'ipv6'
                ? row['ipv6.nxt']
                : ethType;
  const sport = num(row['udp.srcport'] || row['tcp.srcport']);
  const dport = num(row['udp.dstport'] || row['tcp.dstport']);
  const icmpType = num(row['icmpv6.type'] || row['icmp.type']);
  const udpLength = num(row['udp.length']);
  return {
    time: Number(row['frame.time_epoch']),
    kind,
    src,
    dst,
    protocol,
    ...(sport !== undefined ? { sport } : {}),
    ...(dport !== undefined ? { dport } : {}),
    ...(icmpType !== undefined ? { icmpType } : {}),
    ...(row['tcp.flags'] ? { tcpFlags: row['tcp.flags'] } : {}),
    ...(udpLength !== undefined ? { udpLength: udpLength - 8, udpPayload: row['udp.payload'] } : {}),
    info: row['_ws.col.Info'],
  };
}

/** Reads a pcap file with tshark into packets, in capture order. */
export async function readCapture(file: string): Promise<CapturedPacket[]> {
  const args = ['-r', file, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f'];
  for (const field of FIELDS) args.push('-e', field);
  const text = await exec('tshark', args, { timeoutMs: 60_000 });
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const values = line.split('\t');
      return packetOf(Object.fromEntries(FIELDS.map((field, i) => [field, values[i] ?? ''])) as Row);
    });
}

/** The fixed sizes of WireGuard's handshake messages: initiation, response, cookie reply. */
const HANDSHAKE_SIZES: Record<number, number> = { 1: 148, 2: 92, 3: 64 };

/**
 * Whether a UDP payload is WireGuard's: messages of type 1-4 (three zero bytes after the type), each
 * its type's size (transport data: any length from 32). The helper sends in UDP GSO batches, which
 * the capture on a veth sees before segmentation, as one datagram holding several messages back to
 * back: all of the first one's size but a shorter last one (an initiation followed by a queued data
 * packet is 148 + 64 = 212 bytes). Every message header the capture kept (256 bytes of each frame)
 * is checked.
 */
export function isWireGuardMessage(length: number, payloadHex: string): boolean {
  const typeAt = (offset: number): number | null => {
    const header = payloadHex.slice(offset * 2, offset * 2 + 8);
    if (header.length < 8) return -1; // beyond what the capture kept
    return /^0[1-4]000000$/.test(header) ? Number(header.slice(0, 2)) : null;
  };
  const first = typeAt(0);
  if (first === null || first === -1) return false;
  // Transport batches: equal segments of one size, which the capture cannot tell apart from one
  // long message; the length says only that it holds at least a keepalive.
  if (first === 4) return length >= 32;
  const size = HANDSHAKE_SIZES[first]!;
  if (length === size) return true;
  if (length < size) return false;
  for (let offset = size; offset < length; offset += size) {
    const rest = length - offset;
    // No WireGuard message is shorter than a keepalive.
    if (rest < 32) return false;
    const type = typeAt(offset);
    if (type === null) return false;
    if (type === -1) return true;
    if (rest >= size && type !== first && type !== 4) return false;
    if (rest < size) return type === 4 || HANDSHAKE_SIZES[type] === rest;
  }
  return true;
}

const isLinkLocalV6 = (address: string): boolean => /^fe[89ab][0-9a-f]:/i.test(address);
const isLinkScopeMulticastV6 = (address: string): boolean => /^ff02:/i.test(address);
/** Neighbour discovery: router and neighbour solicitations and advertisements. */
const ND_TYPES = new Set([133, 134, 135, 136]);

/** Which exception lets `packet` cross the link, or null: it is a leak. */
export function allowedAs(packet: CapturedPacket, allowed: AllowedTraffic): string | null {
  if (packet.kind === 'arp') return 'arp';
  if (
    packet.protocol === 'tcp' &&
    (allowed.relays ?? []).some((relay) => relay.address === packet.dst && relay.port === packet.dport)
  )
    return 'relay';
  if (packet.protocol === 'udp') {
    const toEndpoint = allowed.endpoints.some(
      (endpoint) => endpoint.address === packet.dst && endpoint.port === packet.dport,
    );
    if (toEndpoint && isWireGuardMessage(packet.udpLength ?? 0, packet.udpPayload ?? '')) return 'wireguard';
    if (
      packet.kind === 'ipv4' &&
      packet.sport === 68 &&
      packet.dport === 67 &&
      (packet.dst === '255.255.255.255' || (allowed.dhcpServers ?? []).includes(packet.dst))
    )
      return 'dhcp';
    if (
      packet.kind === 'ipv6' &&
      packet.sport === 546 &&
      packet.dport === 547 &&
      isLinkLocalV6(packet.src) &&
      (packet.dst === 'ff02::1:2' || isLinkLocalV6(packet.dst))
    )
      return 'dhcpv6';
  }
  if (
    packet.protocol === 'icmpv6' &&
    ND_TYPES.has(packet.icmpType ?? -1) &&
    (isLinkLocalV6(packet.dst) || isLinkScopeMulticastV6(packet.dst))
  )
    return 'neighbour-discovery';
  return null;
}

/** One line per packet: time from `since`, addresses, protocol, tshark's summary; for UDP, the
 *  payload's first 24 bytes, so that a report tells a WireGuard message from anything else. */
export function describePacket(packet: CapturedPacket, since: number): string {
  const at = `+${(packet.time - since).toFixed(3)}s`;
  const port = (address: string, value: number | undefined): string =>
    value === undefined ? address : address.includes(':') ? `[${address}]:${value}` : `${address}:${value}`;
  const payload = packet.udpPayload ? ` payload ${packet.udpPayload.slice(0, 48)}` : '';
  return `${at} ${packet.kind} ${port(packet.src, packet.sport)} > ${port(packet.dst, packet.dport)} ${packet.protocol}: ${packet.info}${payload}`;
}

// ---------------------------------------------------------------------------------------------
// The capture

export interface CaptureResult {
  /** When the capture was listening (epoch seconds). */
  startedAt: number;
  packets: CapturedPacket[];
  /** What tcpdump said the kernel dropped (should be 0: otherwise a leak may be missing). */
  droppedByKernel: number;
  /** Packets allowed, counted by the exception they fall under. */
  allowed: Record<string, number>;
  /** Every packet that is not allowed. */
  leaks: CapturedPacket[];
  /** The leaks sent at or after `time` (epoch seconds). */
  leaksSince(time: number): CapturedPacket[];
  /** The packets, listed for a failure message (all leaks by default). */
  describe(packets?: readonly CapturedPacket[]): string;
}

export interface Capture {
  startedAt: number;
  /** Stops tcpdump and reads the capture. */
  stop(): Promise<CaptureResult>;
}

/** tcpdump on `iface` in `ns`, recording what leaves through it (outgoing only); listening once resolved. */
export async function startCapture(ns: string, iface: string, allowed: AllowedTraffic): Promise<Capture> {
  const dir = await mkdtemp(join(tmpdir(), 'pm-leaks-'));
  removeOnCleanup(ns, dir);
  const file = join(dir, 'link.pcap');
  const tcpdump = spawnIn(ns, 'tcpdump', [
    '-i',
    iface,
    '-Q',
    'out',
    '-n',
    '-s',
    '256',
    '-B',
    '4096',
    '-U',
    '--immediate-mode',
    '-w',
    file,
  ]);
  try {
    await tcpdump.waitForLine(/listening on/, 10_000);
  } catch (error) {
    await tcpdump.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const startedAt = Date.now() / 1000;
  return {
    startedAt,
    async stop() {
      await tcpdump.stop(5000);
      try {
        const droppedByKernel = Number(/(\d+) packets? dropped by kernel/.exec(tcpdump.output())?.[1] ?? 0);
        const packets = await readCapture(file);
        return captureResult(startedAt, packets, droppedByKernel, allowed);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

function captureResult(
  startedAt: number,
  packets: CapturedPacket[],
  droppedByKernel: number,
  allowed: AllowedTraffic,
): CaptureResult {
  const counts: Record<string, number> = {};
  const leaks: CapturedPacket[] = [];
  for (const packet of packets) {
    const why = allowedAs(packet, allowed);
    if (why === null) leaks.push(packet);
    else counts[why] = (counts[why] ?? 0) + 1;
  }
  return {
    startedAt,
    packets,
    droppedByKernel,
    allowed: counts,
    leaks,
    leaksSince: (time) => leaks.filter((packet) => packet.time >= time),
    describe(list = leaks) {
      // One line per flow (family, addresses, protocol, destination port), with how many and when
      // first: the first few packets of one flood must not hide the others.
      const flows = new Map<string, { first: CapturedPacket; count: number }>();
      for (const packet of list) {
        const key = [
          packet.kind,
          packet.src,
          packet.dst,
          packet.protocol,
          packet.dport,
          packet.icmpType,
        ].join(' ');
        const flow = flows.get(key);
        if (flow) flow.count++;
        else flows.set(key, { first: packet, count: 1 });
      }
      const shown = [...flows.values()]
        .slice(0, 40)
        .map(({ first, count }) => `  ${count} x, first ${describePacket(first, startedAt)}`);
      if (flows.size > shown.length) shown.push(`  ... and ${flows.size - shown.length} more flows`);
      return shown.join('\n');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The probes

export type Probe =
  /** `ping` every 20 ms; `device` binds it to an interface (SO_BINDTODEVICE), around the routes. */
  | { kind: 'icmp'; to: string; device?: string }
  /** A datagram every 20 ms, from `sourcePort` when given; `payload` in hex (default "6c65616b"). */
  | { kind: 'udp'; to: string; port: number; sourcePort?: number; payload?: string }
  /** A new connection attempt (one SYN) every 100 ms, abandoned after 250 ms. */
  | { kind: 'tcp'; to: string; port: number };

export function describeProbe(probe: Probe): string {
  const host = probe.to.includes(':') ? `[${probe.to}]` : probe.to;
  if (probe.kind === 'icmp') return `ping ${probe.to}${probe.device ? ` -I ${probe.device}` : ''}`;
  const from = probe.kind === 'udp' && probe.sourcePort !== undefined ? ` from port ${probe.sourcePort}` : '';
  return `${probe.kind} ${host}:${probe.port}${from}`;
}

/** The probe program, run by Node in the namespace: argv[1] is the JSON list of probes and a cap.
 *  On SIGTERM (or at the cap) it stops and prints `probes {"sent":[...],"failed":[...]}`. */
const PROBE_PROGRAM = `
const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const net = require('node:net');
const { probes, maxMs } = JSON.parse(process.argv[1]);
const timers = [], pings = [], sockets = [];
const sent = probes.map(() => 0), failed = probes.map(() => 0);
probes.forEach((probe, i) => {
  if (probe.kind === 'icmp') {
    const args = ['-n', '-i', '0.02', '-W', '1', '-w', String(Math.ceil(maxMs / 1000))];
    if (probe.to.includes(':')) args.unshift('-6');
    if (probe.device) args.push('-I', probe.device);
    const child = spawn('ping', [...args, probe.to], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { failed[i] += String(chunk).split('\\n').filter(Boolean).length; });
    child.on('error', () => { failed[i]++; });
    const closed = new Promise((resolve) => child.on('close', () => {
      sent[i] = Number(/(\\d+) packets transmitted/.exec(out)?.[1] ?? 0);
      resolve();
    }));
    pings.push({ child, closed });
  } else if (probe.kind === 'udp') {
    const socket = dgram.createSocket({ type: probe.to.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
    sockets.push(socket);
    socket.on('error', () => { failed[i]++; });
    const payload = Buffer.from(probe.payload ?? '6c65616b', 'hex');
    const send = () => socket.send(payload, probe.port, probe.to, (error) => { sent[i]++; if (error) failed[i]++; });
    const start = () => timers.push(setInterval(send, 20));
    if (probe.sourcePort !== undefined) socket.bind(probe.sourcePort, start); else start();
  } else {
    timers.push(setInterval(() => {
      sent[i]++;
      const socket = net.connect({ host: probe.to, port: probe.port });
      socket.on('error', (error) => { if (error.code !== 'ECONNREFUSED') failed[i]++; });
      setTimeout(() => socket.destroy(), 250);
    }, 100));
  }
});
let done = false;
const finish = async () => {
  if (done) return;
  done = true;
  for (const timer of timers) clearInterval(timer);
  for (const socket of sockets) try { socket.close(); } catch {}
  for (const { child } of pings) child.kill('SIGINT');
  const settled = Promise.all(pings.map(({ closed }) => closed));
  await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 2000))]);
  console.log('probes ' + JSON.stringify({ sent, failed }));
  process.exit(0);
};
process.on('SIGTERM', finish);
setTimeout(finish, maxMs);
console.log('probing');
`;

/** What one probe did: `sent` packets or attempts; `failed` sends the kernel refused (a firewall's drop
 *  shows as EPERM to the sender) or ping's errors. */
export interface ProbeCount {
  probe: string;
  sent: number;
  failed: number;
}

export interface Probing {
  /** Stops the probes (they also stop by themselves after `maxMs`) and says what each sent. */
  stop(): Promise<ProbeCount[]>;
}

/** Starts the probes in `ns`; they run until stopped, `maxMs` at most. */
export async function startProbes(ns: string, probes: readonly Probe[], maxMs = 60_000): Promise<Probing> {
  const program = spawnIn(ns, process.execPath, ['-e', PROBE_PROGRAM, JSON.stringify({ probes, maxMs })]);
  await program.waitForLine(/probing/, 10_000);
  return {
    async stop() {
      program.child.kill('SIGTERM');
      const line = await program.waitForLine(/^probes /, 5000).catch(() => null);
      await program.stop(500);
      const counts = line
        ? (JSON.parse(line.slice('probes '.length)) as { sent: number[]; failed: number[] })
        : undefined;
      return probes.map((probe, i) => ({
        probe: describeProbe(probe),
        sent: counts?.sent[i] ?? 0,
        failed: counts?.failed[i] ?? 0,
      }));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Capture + probes, around whatever the scenario does

export interface LeakRunOptions {
  ns: string;
  /** The physical link's interface in `ns`. */
  iface: string;
  allowed: AllowedTraffic;
  probes: readonly Probe[];
  /** Probing lasts at least this long (default 1500 ms), and until `during` has finished. */
  minMs?: number;
  /** What happens while the probes run (an edit, a restart, a flush); started with the probes. */
  during?: () => Promise<void>;
  /** Probing goes on this long after `during` (default 500 ms). */
  tailMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Captures the link while the probes run and `during` happens, then returns what was sent. The
 * capture starts before the probes and ends after they stop, so no probe goes unseen.
 */
export interface LeakRun extends CaptureResult {
  /** What each probe sent (in the order given). */
  probes: ProbeCount[];
}

/**
 * Captures the link while the probes run and `during` happens, then returns what was sent. The
 * capture starts before the probes and ends after they stop, so no probe goes unseen.
 */
export async function captureWhileProbing(options: LeakRunOptions): Promise<LeakRun> {
  const capture = await startCapture(options.ns, options.iface, options.allowed);
  let probing: Probing | undefined;
  try {
    probing = await startProbes(options.ns, options.probes);
    const began = Date.now();
    await options.during?.();
    await sleep(Math.max(options.tailMs ?? 500, (options.minMs ?? 1500) - (Date.now() - began)));
    const probes = await probing.stop();
    probing = undefined;
    await sleep(100);
    return { ...(await capture.stop()), probes };
  } catch (error) {
    await probing?.stop();
    await capture.stop().catch(() => undefined);
    throw error;
  }
}

/** Every probe sent something: otherwise "no leak" would prove nothing. */
export function silentProbes(run: LeakRun): ProbeCount[] {
  return run.probes.filter((count) => count.sent === 0);
}

/** The failure message for leaks: what was probed, what was allowed, and each leaked packet. */
export function leakMessage(run: LeakRun, leaks: readonly CapturedPacket[]): string {
  return [
    `${leaks.length} packet(s) left in clear on the physical link (times from the capture's start):`,
    run.describe(leaks),
    `probes (sent/refused by the kernel): ${run.probes.map((c) => `${c.probe} ${c.sent}/${c.failed}`).join(', ')}`,
    `allowed on the link: ${JSON.stringify(run.allowed)}; ${run.packets.length} packets captured, ` +
      `${run.droppedByKernel} dropped by the kernel`,
  ].join('\n');
}
