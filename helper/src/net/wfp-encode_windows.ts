// A planned WFP filter (wfp-plan_windows.ts) as the FWPM_FILTER0 object koffi marshals for
// FwpmFilterAdd0, with its conditions. Pure (the GUIDs and constants only): the unit tests encode
// the result into memory with koffi on any OS and read it back.

import { parseIp } from '../../../shared/src/ip.ts';
import { parseGuid, type Guid } from '../guid_windows.ts';
import {
  FWP_ACTION_BLOCK,
  FWP_ACTION_PERMIT,
  FWP_BYTE_ARRAY16_TYPE,
  FWP_ACTRL_MATCH_FILTER,
  FWP_CONDITION_FLAG_IS_LOOPBACK,
  FWP_EMPTY,
  FWP_MATCH_EQUAL,
  FWP_MATCH_FLAGS_ALL_SET,
  FWP_SECURITY_DESCRIPTOR_TYPE,
  FWP_UINT16,
  FWP_UINT32,
  FWP_UINT64,
  FWP_UINT8,
  FWP_V4_ADDR_MASK,
  FWP_V6_ADDR_MASK,
  FWPM_FILTER_FLAG_PERSISTENT,
} from '../fwpuclnt_windows.ts';
import type { WfpCondition, WfpFilter, WfpLayer } from './wfp-plan_windows.ts';

/** Ours, fixed: the provider and the sublayer every kill-switch filter belongs to. */
export const PROVIDER_KEY = parseGuid('5b1b6a4e-0c55-4f0e-9d3c-70d4a1f3e201');
export const SUBLAYER_KEY = parseGuid('5b1b6a4e-0c55-4f0e-9d3c-70d4a1f3e202');
/** The sublayer's weight among sublayers: as high as there is, so ours is looked at early. */
export const SUBLAYER_WEIGHT = 0xffff;

export const LAYER_KEYS: Record<WfpLayer, Guid> = {
  'connect-v4': parseGuid('c38d57d1-05a7-4c33-904f-7fbceee60e82'),
  'connect-v6': parseGuid('4a72393b-319f-44bc-84c3-ba54dcb3b6b4'),
  'recv-v4': parseGuid('e1cd9fe7-f4b5-4273-96c0-592e487b8650'),
  'recv-v6': parseGuid('a3b42c97-9f04-4672-b87e-cee9c483257f'),
};

export const CONDITION_KEYS = {
  remoteAddress: parseGuid('b235ae9a-1d64-49b8-a44c-5ff3d9095045'),
  remotePort: parseGuid('c35a604d-d22b-4e1a-91b4-68f674ee674b'),
  localPort: parseGuid('0c1ba1af-5765-453f-af22-a8f791ac775b'),
  protocol: parseGuid('3971ef2b-623e-4f9a-8cb1-6e79b806b9a7'),
  localInterface: parseGuid('4cd62a49-59c3-4969-b7f3-bda5d32890a4'),
  userId: parseGuid('af043a0a-b34d-4f86-979c-c90371af6e66'),
  flags: parseGuid('632ce23b-5167-435c-86d7-e903684aa80c'),
} as const;

const PROTOCOLS = { tcp: 6, udp: 17, icmpv6: 58 } as const;
const ZERO_GUID: Guid = { Data1: 0, Data2: 0, Data3: 0, Data4: [0, 0, 0, 0, 0, 0, 0, 0] };

export interface EncodedCondition {
  fieldKey: Guid;
  matchType: number;
  conditionValue: { type: number; value: Record<string, unknown> };
}

/** An IPv4 address as WFP's host-order u32. */
function v4Number(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

/**
 * The security descriptor of a 'user' condition, in SDDL: a DACL granting FWP_ACTRL_MATCH_FILTER to
 * `sid` and nothing else. WFP matches the condition when an access check of the connecting process's
 * token against it grants that right, i.e. when the token holds `sid` enabled (Microsoft's "Permitting
 * and Blocking Applications and Users" builds the same descriptor with BuildSecurityDescriptor).
 */
export function userMatchSddl(sid: string): string {
  if (!/^S-1-(\d+-){1,14}\d+$/.test(sid)) throw new Error(`"${sid}" is not a SID`);
  return `D:(A;;0x${FWP_ACTRL_MATCH_FILTER.toString(16)};;;${sid})`;
}

/** A self-relative security descriptor in memory, for FWP_BYTE_BLOB. */
export interface DescriptorBlob {
  size: number;
  data: bigint;
}

/** One condition; `descriptors` maps a 'user' condition's SID to its descriptor (of userMatchSddl). */
export function encodeCondition(
  condition: WfpCondition,
  descriptors: ReadonlyMap<string, DescriptorBlob>,
): EncodedCondition {
  const equal = (fieldKey: Guid, type: number, value: Record<string, unknown>): EncodedCondition => ({
    fieldKey,
    matchType: FWP_MATCH_EQUAL,
    conditionValue: { type, value },
  });
  switch (condition.field) {
    case 'remote-address': {
      const { prefix } = condition;
      const bytes = parseIp(prefix.address)!;
      if (prefix.family === 4) {
        if (prefix.bits === 32)
          return equal(CONDITION_KEYS.remoteAddress, FWP_UINT32, { uint32: v4Number(bytes) });
        const mask = prefix.bits === 0 ? 0 : (0xffffffff << (32 - prefix.bits)) >>> 0;
        return equal(CONDITION_KEYS.remoteAddress, FWP_V4_ADDR_MASK, {
          v4AddrMask: { addr: v4Number(bytes), mask },
        });
      }
      if (prefix.bits === 128)
        return equal(CONDITION_KEYS.remoteAddress, FWP_BYTE_ARRAY16_TYPE, {
          byteArray16: { byteArray16: [...bytes] },
        });
      return equal(CONDITION_KEYS.remoteAddress, FWP_V6_ADDR_MASK, {
        v6AddrMask: { addr: [...bytes], prefixLength: prefix.bits },
      });
    }
    case 'remote-port':
      return equal(CONDITION_KEYS.remotePort, FWP_UINT16, { uint16: condition.port });
    case 'local-port':
      return equal(CONDITION_KEYS.localPort, FWP_UINT16, { uint16: condition.port });
    case 'icmp-type':
      // FWPM_CONDITION_ICMP_TYPE is FWPM_CONDITION_IP_LOCAL_PORT.
      return equal(CONDITION_KEYS.localPort, FWP_UINT16, { uint16: condition.type });
    case 'protocol':
      return equal(CONDITION_KEYS.protocol, FWP_UINT8, { uint8: PROTOCOLS[condition.protocol] });
    case 'local-interface':
      return equal(CONDITION_KEYS.localInterface, FWP_UINT64, { uint64: [condition.luid] });
    case 'user': {
      const blob = descriptors.get(condition.sid);
      if (blob === undefined) throw new Error(`no security descriptor for ${condition.sid}`);
      return equal(CONDITION_KEYS.userId, FWP_SECURITY_DESCRIPTOR_TYPE, { sd: blob });
    }
    case 'loopback':
      return {
        fieldKey: CONDITION_KEYS.flags,
        matchType: FWP_MATCH_FLAGS_ALL_SET,
        conditionValue: { type: FWP_UINT32, value: { uint32: FWP_CONDITION_FLAG_IS_LOOPBACK } },
      };
  }
}

/** The FWPM_FILTER0 for a planned filter: persistent, ours, weighted within our sublayer. */
export function encodeFilter(filter: WfpFilter, descriptors: ReadonlyMap<string, DescriptorBlob>) {
  const conditions = filter.conditions.map((condition) => encodeCondition(condition, descriptors));
  return {
    filterKey: ZERO_GUID,
    displayData: { name: `PhantomMesh: ${filter.name}`, description: 'PhantomMesh kill switch' },
    flags: FWPM_FILTER_FLAG_PERSISTENT,
    providerKey: PROVIDER_KEY,
    providerData: { size: 0, data: null },
    layerKey: LAYER_KEYS[filter.layer],
    subLayerKey: SUBLAYER_KEY,
    weight: { type: FWP_UINT8, value: { uint8: filter.weight } },
    numFilterConditions: conditions.length,
    filterCondition: conditions.length > 0 ? conditions : null,
    action: {
      type: filter.action === 'permit' ? FWP_ACTION_PERMIT : FWP_ACTION_BLOCK,
      filterType: ZERO_GUID,
    },
    context: { rawContext: 0n },
    reserved: null,
    filterId: 0n,
    effectiveWeight: { type: FWP_EMPTY, value: { uint8: 0 } },
  };
}
