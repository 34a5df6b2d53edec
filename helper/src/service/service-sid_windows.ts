// A Windows service's own SID, "NT SERVICE\NAME": S-1-5-80 (SECURITY_SERVICE_ID_BASE_RID) followed by
// the SHA-1 of the service's name, upper-cased, in UTF-16LE, read as five little-endian u32s (what
// RtlCreateServiceSid computes and `sc showsid NAME` prints). Windows puts it in the service process's
// token, enabled, when the service's SID type is unrestricted (the installer's `sc sidtype`), which
// is what the kill switch's endpoint filters match (wfp-plan_windows.ts). Pure: the unit tests check
// it against a SID Windows itself prints.

/** Service names we can hash as Windows does: printable ASCII without slashes (no locale upper-casing). */
const SERVICE_NAME = /^[\x20-\x2e\x30-\x5b\x5d-\x7e]{1,256}$/;

export function serviceSid(name: string): string {
  if (!SERVICE_NAME.test(name))
    throw new Error(`"${name}" is not a service name (printable ASCII, no slashes, at most 256 characters)`);
  // ASCII only, so toUpperCase agrees with RtlUpcaseUnicodeString.
  // Taken at call time: this module loads on every OS (the seams import it); node:crypto need not.
  const { createHash } = process.getBuiltinModule('node:crypto');
  const digest = createHash('sha1').update(Buffer.from(name.toUpperCase(), 'utf16le')).digest();
  const parts = [0, 4, 8, 12, 16].map((offset) => digest.readUInt32LE(offset));
  return `S-1-5-80-${parts.join('-')}`;
}
