// The values that the network journal's records and the kill switch's settings hold, as zod schemas:
// each is checked when written and again when read back from disk, so recovery never acts on a
// tampered or mangled record. One definition for every OS's records.

import { z } from '../../../shared/src/zod.ts';
import { isInterfaceName } from '../../../shared/src/interface-name.ts';
import { parseIp, parsePrefix } from '../../../shared/src/ip.ts';

export const ifnameSchema = z.string().check(z.refine(isInterfaceName, 'not an interface name'));
export const familySchema = z.union([z.literal(4), z.literal(6)]);
/** An IP address without a zone. */
export const addressSchema = z
  .string()
  .check(z.refine((text) => parseIp(text) !== null, 'not an IP address'));
/** A prefix written with its length ("192.0.2.0/24"), never a bare address. */
export const prefixSchema = z
  .string()
  .check(z.refine((text) => text.includes('/') && parsePrefix(text) !== null, 'not a prefix'));
