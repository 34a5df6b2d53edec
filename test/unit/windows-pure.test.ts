// The Windows backend's pure parts, on any OS: the WFP kill-switch plan and its encoding, struct
// layouts of the koffi declarations (as on 64-bit Windows), SOCKADDR_INET, GUIDs, packet batches,
// the default interface, DNS plans, the pipes' SDDL, the service status mapping and service SIDs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import koffi from 'koffi';
import { readFileSync } from 'node:fs';
import { formatGuid, guidBytes, guidFromBytes, nameGuid, parseGuid } from '../../helper/src/guid_windows.ts';
import {
  FWPM_FILTER0,
  FWPM_FILTER_CONDITION0,
  FWPM_SUBLAYER0,
  FWPM_PROVIDER0,
} from '../../helper/src/fwpuclnt_windows.ts';
import {
  DNS_INTERFACE_SETTINGS,
  MIB_IPFORWARD_ROW2,
  MIB_IPINTERFACE_ROW,
  MIB_UNICASTIPADDRESS_ROW,
} from '../../helper/src/iphlpapi_windows.ts';
import { OVERLAPPED } from '../../helper/src/kernel32_windows.ts';
import { SERVICE_STATUS } from '../../helper/src/advapi32_windows.ts';
import { readSockaddrInet, writeSockaddrInet } from '../../helper/src/sockaddr_windows.ts';
import {
  describePlan,
  killSwitchPlan,
  WEIGHT,
  type WfpFilter,
} from '../../helper/src/net/wfp-plan_windows.ts';
import {
  CONDITION_KEYS,
  encodeFilter,
  LAYER_KEYS,
  userMatchSddl,
} from '../../helper/src/net/wfp-encode_windows.ts';
import { serviceSid } from '../../helper/src/service/service-sid_windows.ts';
import { HELPER_SERVICE_NAME } from '../../shared/src/control/pipe-server-check.ts';
import { BatchWriter, forEachPacket } from '../../helper/src/tun/packet-batch_windows.ts';
import { defaultInterface } from '../../helper/src/net/default-route_windows.ts';
import { dnsPlan, tcpipInterfaceKey } from '../../helper/src/net/ipconfig_windows.ts';
import { localNetworksFromTables } from '../../helper/src/net/killswitch_windows.ts';
import { controlPipeSddl, ridOf, UAPI_PIPE_SDDL } from '../../helper/src/control/pipe-sddl_windows.ts';
import {
  controlAction,
  serviceStatus,
  SERVICE_RUNNING,
  SERVICE_STOP_PENDING,
  stateOf,
} from '../../helper/src/service/service-status_windows.ts';
import { unicastIfValue } from '../../helper/src/conn/bind_windows.ts';
import { networkFingerprint } from '../../helper/src/service/network-watch_windows.ts';

test('struct layouts match 64-bit Windows', () => {
  assert.equal(koffi.sizeof(FWPM_FILTER0), 200);
  assert.equal(koffi.offsetof(FWPM_FILTER0, 'weight'), 96);
  assert.equal(koffi.offsetof(FWPM_FILTER0, 'filterCondition'), 120);
  assert.equal(koffi.offsetof(FWPM_FILTER0, 'action'), 128);
  assert.equal(koffi.offsetof(FWPM_FILTER0, 'filterId'), 176);
  assert.equal(koffi.sizeof(FWPM_FILTER_CONDITION0), 40);
  assert.equal(koffi.sizeof(FWPM_SUBLAYER0), 72);
  assert.equal(koffi.sizeof(FWPM_PROVIDER0), 64);
  assert.equal(koffi.sizeof(MIB_UNICASTIPADDRESS_ROW), 80);
  assert.equal(koffi.offsetof(MIB_UNICASTIPADDRESS_ROW, 'InterfaceLuid'), 32);
  assert.equal(koffi.sizeof(MIB_IPFORWARD_ROW2), 104);
  assert.equal(koffi.offsetof(MIB_IPFORWARD_ROW2, 'NextHop'), 44);
  assert.equal(koffi.offsetof(MIB_IPFORWARD_ROW2, 'Metric'), 84);
  assert.equal(koffi.sizeof(MIB_IPINTERFACE_ROW), 168);
  assert.equal(koffi.offsetof(MIB_IPINTERFACE_ROW, 'Metric'), 148);
  assert.equal(koffi.offsetof(MIB_IPINTERFACE_ROW, 'NlMtu'), 152);
  assert.equal(koffi.sizeof(DNS_INTERFACE_SETTINGS), 64);
  assert.equal(koffi.sizeof(OVERLAPPED), 32);
  assert.equal(koffi.sizeof(SERVICE_STATUS), 28);
});

test('GUIDs: text, memory order and name-derived', () => {
  const text = 'c38d57d1-05a7-4c33-904f-7fbceee60e82';
  const guid = parseGuid(`{${text.toUpperCase()}}`);
  assert.equal(formatGuid(guid), text);
  assert.equal(guidBytes(guid).toString('hex'), 'd1578dc3a705334c904f7fbceee60e82');
  assert.equal(formatGuid(guidFromBytes(guidBytes(guid))), text);
  const a = nameGuid('ns', 'wg0');
  assert.deepEqual(a, nameGuid('ns', 'wg0'));
  assert.notDeepEqual(a, nameGuid('ns', 'wg1'));
  assert.match(formatGuid(a), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('SOCKADDR_INET: IPv4, IPv6 and mapped addresses', () => {
  const v4 = writeSockaddrInet('192.0.2.7', 51820);
  assert.equal(v4.length, 16);
  assert.equal(v4.buffer.subarray(0, 8).toString('hex'), '0200ca6cc0000207');
  assert.deepEqual(readSockaddrInet(v4.buffer), { address: '192.0.2.7', port: 51820, family: 4 });
  const v6 = writeSockaddrInet('2001:db8::1', 443);
  assert.equal(v6.length, 28);
  assert.equal(v6.buffer.readUInt16LE(0), 23);
  assert.deepEqual(readSockaddrInet(v6.buffer), { address: '2001:db8::1', port: 443, family: 6 });
  const mapped = writeSockaddrInet('::ffff:10.0.0.1', 53);
  assert.deepEqual(readSockaddrInet(mapped.buffer), { address: '10.0.0.1', port: 53, family: 4 });
});

const SETTINGS = {
  allowLan: false,
  local: { subnets: ['192.168.1.0/24'], dhcpServers: ['192.168.1.1'] },
  tunnels: [
    {
      ifname: 'office',
      endpoints: [
        { address: '198.51.100.1', port: 51820, family: 4 as const },
        { address: '2001:db8::9', port: 443, family: 6 as const, protocol: 'tcp' as const },
      ],
      dns: ['10.0.0.53'],
      fwmark: 51820,
    },
  ],
};
const HELPER_SID = serviceSid(HELPER_SERVICE_NAME);
const ENV = { luids: new Map([['office', 0x0083000000070000n]]), serviceSid: HELPER_SID };

function byName(plan: WfpFilter[], name: string): WfpFilter {
  const found = plan.find((filter) => filter.name === name);
  assert.ok(found, `no filter "${name}" in:\n${describePlan(plan)}`);
  return found;
}

test('service SIDs: NT SERVICE\\NAME as Windows derives it', () => {
  // Expected value: `sc showsid TrustedInstaller` on Windows prints this SID (shown in Microsoft's
  // blog post "What is the TrustedInstaller entity you see in Windows Vista?", C. Jackson, 2008, and
  // on every Windows's system files as the owner NT SERVICE\TrustedInstaller). It is the documented
  // derivation: S-1-5-80, then the SHA-1 of the upper-cased name in UTF-16LE as five little-endian
  // u32s; matching it checks the hash, the upper-casing, the encoding and the byte order at once.
  assert.equal(
    serviceSid('TrustedInstaller'),
    'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464',
  );
  assert.equal(serviceSid('trustedinstaller'), serviceSid('TRUSTEDINSTALLER'), 'case-insensitive');
  // Ours, pinned (computed by the same derivation with node:crypto; not yet compared with
  // `sc showsid PhantomMeshHelper` on Windows).
  assert.equal(HELPER_SID, 'S-1-5-80-3246780955-3249589520-1705755565-1302566866-2927094927');
  assert.match(HELPER_SID, /^S-1-5-80(-\d+){5}$/);
  // The installer gives the service that SID (unrestricted SID type) before its first start.
  const nsh = readFileSync(new URL('../../installers/windows/installer.nsh', import.meta.url), 'utf8');
  const at = (text: string) => nsh.indexOf(text);
  assert.ok(at("'sc.exe sidtype ${PM_SERVICE} unrestricted'") > at("'sc.exe create ${PM_SERVICE} "));
  assert.ok(at("'sc.exe sidtype ${PM_SERVICE} unrestricted'") < at("'sc.exe start ${PM_SERVICE}'"));
  assert.ok(at("'sc.exe create ${PM_SERVICE} ") > 0);
  assert.throws(() => serviceSid('a\\b'), /not a service name/);
  assert.throws(() => serviceSid('Straße'), /not a service name/);
  assert.throws(() => serviceSid(''), /not a service name/);
});

test('kill-switch plan: endpoints by service SID, DNS only through the tunnel, block the rest', () => {
  const plan = killSwitchPlan(SETTINGS, ENV);
  const udp = byName(plan, 'office: udp to endpoint 198.51.100.1 port 51820');
  assert.equal(udp.layer, 'connect-v4');
  assert.equal(udp.weight, WEIGHT.endpoint);
  assert.deepEqual(udp.conditions, [
    { field: 'user', sid: HELPER_SID },
    { field: 'protocol', protocol: 'udp' },
    { field: 'remote-address', prefix: { address: '198.51.100.1', bits: 32, family: 4 } },
    { field: 'remote-port', port: 51820 },
  ]);
  const tcp = byName(plan, 'office: tcp to endpoint 2001:db8::9 port 443');
  assert.equal(tcp.layer, 'connect-v6');
  const dns = byName(plan, 'office: DNS through the tunnel to 10.0.0.53 (IPv4)');
  assert.deepEqual(dns.conditions[0], { field: 'local-interface', luid: 0x0083000000070000n });
  assert.ok(
    !plan.some((f) => f.name === 'office: DNS through the tunnel (IPv6)'),
    'no IPv6 server, no IPv6 DNS',
  );
  assert.equal(byName(plan, 'DNS outside the tunnels (IPv4)').action, 'block');
  assert.ok(
    WEIGHT.tunnelDns > WEIGHT.blockDns && WEIGHT.blockDns > WEIGHT.tunnel,
    'DNS rules outrank the tunnel',
  );
  for (const layer of Object.keys(LAYER_KEYS)) {
    assert.equal(byName(plan, `everything else ${layer}`).weight, 0);
    assert.equal(byName(plan, `office: the tunnel ${layer}`).weight, WEIGHT.tunnel);
    assert.equal(byName(plan, `loopback ${layer}`).weight, WEIGHT.loopback);
  }
  const dhcp = byName(plan, 'DHCPv4 requests');
  assert.deepEqual(
    dhcp.conditions
      .filter((c) => c.field === 'remote-address')
      .map((c) => c.field === 'remote-address' && c.prefix.address),
    ['255.255.255.255', '192.168.1.1'],
  );
  assert.ok(!plan.some((f) => f.name.startsWith('the LAN')), 'no LAN unless asked');
  assert.ok(plan.every((f) => f.weight >= 0 && f.weight <= 15));
});

test('kill-switch plan: LAN opt-in, unmarked sockets, missing adapters, bad input', () => {
  const lan = killSwitchPlan({ ...SETTINGS, allowLan: true }, ENV);
  const out = byName(lan, 'the LAN out (IPv4)');
  assert.deepEqual(
    out.conditions.map((c) => c.field === 'remote-address' && `${c.prefix.address}/${c.prefix.bits}`),
    ['192.168.1.0/24', '169.254.0.0/16', '224.0.0.0/24', '239.255.255.250/32', '255.255.255.255/32'],
  );
  byName(lan, 'the LAN in (IPv6)');
  const unmarked = killSwitchPlan({ ...SETTINGS, tunnels: [{ ...SETTINGS.tunnels[0]!, fwmark: 0 }] }, ENV);
  assert.ok(!unmarked.some((f) => f.name.includes('to endpoint')));
  assert.throws(
    () => killSwitchPlan(SETTINGS, { ...ENV, serviceSid: 'S-1-5-18' }),
    /not a service SID/,
    'only a service SID (S-1-5-80-...) may be the exception',
  );
  const noAdapter = killSwitchPlan(SETTINGS, { ...ENV, luids: new Map() });
  assert.ok(noAdapter.some((f) => f.name.includes('to endpoint')));
  assert.ok(!noAdapter.some((f) => f.name.startsWith('office: the tunnel')));
  const anyDns = killSwitchPlan({ ...SETTINGS, tunnels: [{ ...SETTINGS.tunnels[0]!, dns: [] }] }, ENV);
  assert.deepEqual(byName(anyDns, 'office: DNS through the tunnel (IPv6)').conditions.length, 2);
  assert.throws(
    () => killSwitchPlan({ ...SETTINGS, local: { subnets: ['nope'], dhcpServers: [] } }, ENV),
    /KILL_SWITCH_INVALID|not an IP prefix/,
  );
  assert.throws(() =>
    killSwitchPlan(
      {
        ...SETTINGS,
        tunnels: [{ ...SETTINGS.tunnels[0]!, endpoints: [{ address: 'x', port: 1, family: 4 }] }],
      },
      ENV,
    ),
  );
});

test('a planned filter encodes into FWPM_FILTER0 memory', () => {
  const plan = killSwitchPlan({ ...SETTINGS, allowLan: true }, ENV);
  // A made-up address stands in for the descriptor Windows would make from userMatchSddl.
  const descriptors = new Map([[HELPER_SID, { size: 44, data: 0x1234n }]]);
  for (const filter of plan) {
    const memory = koffi.alloc(FWPM_FILTER0, 1);
    koffi.encode(memory, FWPM_FILTER0, encodeFilter(filter, descriptors));
    const back = koffi.decode(memory, FWPM_FILTER0) as {
      numFilterConditions: number;
      layerKey: { Data1: number };
      weight: { type: number };
      action: { type: number };
      flags: number;
    };
    assert.equal(back.numFilterConditions, filter.conditions.length);
    assert.equal(back.layerKey.Data1, LAYER_KEYS[filter.layer].Data1);
    assert.equal(back.weight.type, 1);
    assert.equal(back.action.type, filter.action === 'permit' ? 0x1002 : 0x1001);
    assert.equal(back.flags, 1);
  }
  const v4prefix = encodeFilter(byName(plan, 'the LAN out (IPv4)'), descriptors).filterCondition![0]!;
  assert.equal(v4prefix.conditionValue.type, 0x100);
  assert.deepEqual(v4prefix.conditionValue.value, { v4AddrMask: { addr: 0xc0a80100, mask: 0xffffff00 } });

  // The endpoint exception: FWPM_CONDITION_ALE_USER_ID, a security descriptor in a byte blob.
  const endpoint = byName(plan, 'office: udp to endpoint 198.51.100.1 port 51820');
  const user = encodeFilter(endpoint, descriptors).filterCondition![0]!;
  assert.equal(formatGuid(user.fieldKey), 'af043a0a-b34d-4f86-979c-c90371af6e66');
  assert.equal(formatGuid(CONDITION_KEYS.userId), 'af043a0a-b34d-4f86-979c-c90371af6e66');
  assert.equal(user.matchType, 0);
  assert.equal(user.conditionValue.type, 14, 'FWP_SECURITY_DESCRIPTOR_TYPE');
  assert.deepEqual(user.conditionValue.value, { sd: { size: 44, data: 0x1234n } });
  const memory = koffi.alloc(FWPM_FILTER_CONDITION0, 1);
  koffi.encode(memory, FWPM_FILTER_CONDITION0, user);
  const back = koffi.decode(memory, FWPM_FILTER_CONDITION0) as { conditionValue: { type: number } };
  assert.equal(back.conditionValue.type, 14);
  assert.ok(
    !plan.some((f) => f.conditions.some((c) => (c.field as string) === 'app')),
    'no program condition any more',
  );
  assert.throws(() => encodeFilter(endpoint, new Map()), /no security descriptor/);
  // Only the SID may match: FWP_ACTRL_MATCH_FILTER (0x1) for it, nothing for anyone else.
  assert.equal(userMatchSddl(HELPER_SID), `D:(A;;0x1;;;${HELPER_SID})`);
  assert.throws(() => userMatchSddl('S-1-5-80-1)(A;;0x1;;;WD'), /not a SID/);
});

test('packet batches carry packets in order and refuse what does not fit', () => {
  const writer = new BatchWriter();
  writer.push(Buffer.from('one'));
  writer.push(new Uint8Array(1500).fill(7));
  writer.push(new Uint8Array(0));
  const seen: number[] = [];
  assert.equal(
    forEachPacket(writer.take(), (p) => seen.push(p.length)),
    3,
  );
  assert.deepEqual(seen, [3, 1500, 0]);
  assert.equal(writer.count, 0);
  assert.throws(() => writer.reserve(70000), RangeError);
  while (writer.fits(65535)) writer.reserve(65535);
  assert.equal(writer.fits(65535), false);
});

test('the default interface leaves our adapters out and ranks by total metric', () => {
  const route = (luid: bigint, index: number, metric: number, family: 4 | 6 = 4) => ({
    luid,
    index,
    destination: { address: family === 4 ? '0.0.0.0' : '::', bits: 0, family },
    nextHop: family === 4 ? '192.168.1.1' : 'fe80::1',
    metric,
  });
  const addresses = [
    { luid: 1n, index: 1, address: '169.254.3.3', family: 4 as const, prefixLength: 16 },
    { luid: 1n, index: 1, address: '192.168.1.20', family: 4 as const, prefixLength: 24 },
    { luid: 2n, index: 2, address: '10.8.0.2', family: 4 as const, prefixLength: 24 },
  ];
  const metrics = new Map([
    [1n, 25],
    [2n, 0],
    [3n, 5],
  ]);
  const routes = [route(1n, 1, 0), route(2n, 2, 0), route(3n, 3, 50)];
  const chosen = defaultInterface(4, routes, addresses, new Set([2n]), (l) => metrics.get(l) ?? 0);
  assert.deepEqual(chosen, { luid: 1n, index: 1, address: '192.168.1.20' });
  assert.equal(
    defaultInterface(6, routes, addresses, new Set(), () => 0),
    null,
  );
  assert.deepEqual(unicastIfValue(4, 7), Uint8Array.of(0, 0, 0, 7));
  assert.deepEqual(unicastIfValue(6, 7), Uint8Array.of(7, 0, 0, 0));
});

test('local networks and the network fingerprint leave the tunnels out', () => {
  const addresses = [
    { luid: 1n, index: 1, address: '192.168.1.20', family: 4 as const, prefixLength: 24 },
    { luid: 1n, index: 1, address: 'fe80::1', family: 6 as const, prefixLength: 64 },
    { luid: 1n, index: 1, address: '2001:db8:1::5', family: 6 as const, prefixLength: 64 },
    { luid: 9n, index: 9, address: '10.8.0.2', family: 4 as const, prefixLength: 24 },
    { luid: 5n, index: 5, address: '127.0.0.1', family: 4 as const, prefixLength: 8 },
  ];
  const routes = [
    {
      luid: 1n,
      index: 1,
      destination: { address: '0.0.0.0', bits: 0, family: 4 as const },
      nextHop: '192.168.1.1',
      metric: 0,
    },
    {
      luid: 9n,
      index: 9,
      destination: { address: '0.0.0.0', bits: 0, family: 4 as const },
      nextHop: '10.8.0.1',
      metric: 0,
    },
  ];
  assert.deepEqual(localNetworksFromTables(addresses, routes, new Set([9n])), {
    subnets: ['192.168.1.0/24', '2001:db8:1::/64'],
    dhcpServers: ['192.168.1.1'],
  });
  const before = networkFingerprint(routes, addresses, new Set([9n]));
  const tunnelMoved = networkFingerprint(
    routes,
    [...addresses, { luid: 9n, index: 9, address: '10.8.0.3', family: 4 as const, prefixLength: 24 }],
    new Set([9n]),
  );
  assert.equal(before, tunnelMoved);
  assert.notEqual(before, networkFingerprint(routes.slice(1), addresses, new Set([9n])));
});

test('DNS plans per family, and the registry fallback key', () => {
  assert.deepEqual(dnsPlan(['10.0.0.53', '2001:db8::53', '10.0.0.54'], ['corp.example']), [
    { family: 4, nameServer: '10.0.0.53,10.0.0.54', searchList: 'corp.example' },
    { family: 6, nameServer: '2001:db8::53', searchList: '' },
  ]);
  assert.deepEqual(dnsPlan(['2001:db8::53'], ['a.example', 'b.example']), [
    { family: 6, nameServer: '2001:db8::53', searchList: 'a.example,b.example' },
  ]);
  assert.equal(
    tcpipInterfaceKey(6, parseGuid('c38d57d1-05a7-4c33-904f-7fbceee60e82')),
    'SYSTEM\\CurrentControlSet\\Services\\Tcpip6\\Parameters\\Interfaces\\{c38d57d1-05a7-4c33-904f-7fbceee60e82}',
  );
});

test("the pipes' security descriptors", () => {
  assert.equal(
    controlPipeSddl('S-1-5-21-1-2-3-1009'),
    'O:SYG:SYD:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;S-1-5-21-1-2-3-1009)',
  );
  assert.equal(controlPipeSddl(null), 'O:SYG:SYD:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)');
  assert.throws(() => controlPipeSddl('S-1-5-21;;(A;;GA;;;WD)'));
  assert.equal(UAPI_PIPE_SDDL, 'O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)');
  assert.equal(ridOf('S-1-5-21-1-2-3-1009'), 1009);
});

test('service status from sd_notify lines and controls', () => {
  assert.equal(stateOf('READY=1'), SERVICE_RUNNING);
  assert.equal(stateOf('STOPPING=1\nSTATUS=bye'), SERVICE_STOP_PENDING);
  assert.equal(stateOf('STATUS=hello'), null);
  const running = serviceStatus(SERVICE_RUNNING, 5);
  assert.deepEqual(running, {
    dwServiceType: 0x10,
    dwCurrentState: 4,
    dwControlsAccepted: 0x5,
    dwWin32ExitCode: 0,
    dwServiceSpecificExitCode: 0,
    dwCheckPoint: 0,
    dwWaitHint: 0,
  });
  const stopping = serviceStatus(SERVICE_STOP_PENDING, 3);
  assert.equal(stopping.dwControlsAccepted, 0);
  assert.equal(stopping.dwCheckPoint, 3);
  assert.equal(serviceStatus(1, 0, 2).dwWin32ExitCode, 1066);
  assert.equal(controlAction(1), 'stop');
  assert.equal(controlAction(5), 'stop');
  assert.equal(controlAction(4), 'answer');
  assert.equal(controlAction(0x10), 'unsupported');
});
