// GUIDs as Windows lays them out (Data1 u32, Data2 u16, Data3 u16 little-endian, Data4 8 bytes as
// written), and the name-derived GUIDs the helper gives its Wintun adapters and WFP objects. Pure:
// no DLL is loaded here, so the unit tests run it on any OS.

/** A GUID as koffi's GUID struct takes it (see kernel32_windows.ts). */
export interface Guid {
  Data1: number;
  Data2: number;
  Data3: number;
  Data4: number[];
}

const GUID_TEXT = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

/** "c38d57d1-05a7-4c33-904f-7fbceee60e82" (braces and capitals accepted) as a Guid. */
export function parseGuid(text: string): Guid {
  const match = GUID_TEXT.exec(text);
  if (!match) throw new Error(`"${text}" is not a GUID`);
  const tail = Buffer.from(match[4]! + match[5]!, 'hex');
  return {
    Data1: parseInt(match[1]!, 16),
    Data2: parseInt(match[2]!, 16),
    Data3: parseInt(match[3]!, 16),
    Data4: [...tail],
  };
}

/** The lower-case text form, without braces. */
export function formatGuid(guid: Guid): string {
  const hex = (value: number, digits: number) => value.toString(16).padStart(digits, '0');
  const tail = Buffer.from(guid.Data4).toString('hex');
  return `${hex(guid.Data1, 8)}-${hex(guid.Data2, 4)}-${hex(guid.Data3, 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}

/** The 16 bytes in memory order (what a GUID field of a struct holds). */
export function guidBytes(guid: Guid): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeUInt32LE(guid.Data1, 0);
  bytes.writeUInt16LE(guid.Data2, 4);
  bytes.writeUInt16LE(guid.Data3, 6);
  Buffer.from(guid.Data4).copy(bytes, 8);
  return bytes;
}

/** A GUID read from 16 bytes in memory order. */
export function guidFromBytes(bytes: Uint8Array): Guid {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, 16);
  return {
    Data1: view.readUInt32LE(0),
    Data2: view.readUInt16LE(4),
    Data3: view.readUInt16LE(6),
    Data4: [...view.subarray(8, 16)],
  };
}

/**
 * A stable, name-based GUID (RFC 9562 version 5 layout, SHA-256 instead of SHA-1 truncated the same
 * way): the same tunnel name always gets the same adapter GUID, so Windows keeps one network profile
 * per tunnel instead of a new "Network 7" each time (wireguard-windows derives its GUIDs from the name
 * for the same reason).
 */
export function nameGuid(namespace: string, name: string): Guid {
  // Taken at call time: this module loads on every OS (the seams import it); node:crypto need not.
  const { createHash } = process.getBuiltinModule('node:crypto');
  const digest = createHash('sha256').update(namespace).update('\0').update(name).digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  // Text order (big-endian fields), as RFC 9562 writes it.
  return parseGuid(
    `${bytes.subarray(0, 4).toString('hex')}-${bytes.subarray(4, 6).toString('hex')}-` +
      `${bytes.subarray(6, 8).toString('hex')}-${bytes.subarray(8, 10).toString('hex')}-` +
      bytes.subarray(10, 16).toString('hex'),
  );
}
