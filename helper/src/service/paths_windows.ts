// Where the helper service keeps its state on Windows, and how that directory is made safe: under
// %ProgramData% (C:\ProgramData\PhantomMesh), owned by SYSTEM, with a protected DACL that gives
// SYSTEM and Administrators full control and nobody else anything (not inherited from ProgramData,
// which lets every user create files). Unix modes mean nothing here, so instead of checking them the
// helper sets the descriptor at every start.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PhantomError } from '../../../shared/src/errors.ts';
import {
  advapi32,
  DACL_SECURITY_INFORMATION,
  OWNER_SECURITY_INFORMATION,
  PROTECTED_DACL_SECURITY_INFORMATION,
  SDDL_REVISION_1,
  SE_FILE_OBJECT,
} from '../advapi32_windows.ts';
import { kernel32, win32Message } from '../kernel32_windows.ts';

export const STATE_DIR_WINDOWS = join(process.env.ProgramData ?? 'C:\\ProgramData', 'PhantomMesh');

/** SYSTEM owns it; SYSTEM and Administrators, and what they create in it (OI, CI), full control. */
export const STATE_DIR_SDDL = 'O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)';

export async function checkStateDirWindows(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const a = advapi32();
  const k = kernel32();
  const sd = new BigUint64Array(1);
  if (!a.ConvertStringSecurityDescriptorToSecurityDescriptorW(STATE_DIR_SDDL, SDDL_REVISION_1, sd, 0n))
    throw new PhantomError('STATE_DIR_INSECURE', `securing ${dir}: ${win32Message(k.GetLastError())}`);
  try {
    const present = new Int32Array(1);
    const defaulted = new Int32Array(1);
    const dacl = new BigUint64Array(1);
    const owner = new BigUint64Array(1);
    a.GetSecurityDescriptorDacl(sd[0]!, present, dacl, defaulted);
    a.GetSecurityDescriptorOwner(sd[0]!, owner, defaulted);
    const status = a.SetNamedSecurityInfoW(
      dir,
      SE_FILE_OBJECT,
      (OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION) >>> 0,
      owner[0]!,
      0n,
      dacl[0]!,
      0n,
    );
    if (status !== 0)
      throw new PhantomError(
        'STATE_DIR_INSECURE',
        `the state directory ${dir} cannot be secured: ${win32Message(status)}`,
      );
  } finally {
    k.LocalFree(sd[0]!);
  }
}
