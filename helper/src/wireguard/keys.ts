// Key text formats exactly as `wg genkey`, `wg pubkey` and `wg genpsk` print them.

import { decodeKey, encodeKey } from '../../../shared/src/keys.ts';
import { PhantomError } from '../../../shared/src/errors.ts';
import { generatePrivateKey, publicKeyOf, randomKey } from './crypto.ts';

export function genkey(): string {
  return encodeKey(generatePrivateKey());
}

export function genpsk(): string {
  return encodeKey(randomKey());
}

/** The public key for a base64 private key; like `wg pubkey`, surrounding white space is ignored. */
export function pubkey(privateKeyText: string): string {
  const key = decodeKey(privateKeyText.trim());
  if (!key)
    throw new PhantomError('KEY_INVALID', 'unable to decode private key: expected 44 base64 characters');
  return encodeKey(publicKeyOf(key));
}
