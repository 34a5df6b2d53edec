#!/usr/bin/env node
// The user-facing command line. Key commands print exactly what `wg genkey|pubkey|genpsk` print.

import { text } from 'node:stream/consumers';
import { genkey, genpsk, pubkey } from '../wireguard/keys.ts';
import { fail } from './fail.ts';

const USAGE = `usage: phantommesh <command>

  genkey   print a new private key (base64)
  pubkey   read a private key on stdin, print its public key
  genpsk   print a new preshared key`;

const [command] = process.argv.slice(2);

async function main(): Promise<void> {
  switch (command) {
    case 'genkey':
      console.log(genkey());
      return;
    case 'genpsk':
      console.log(genpsk());
      return;
    case 'pubkey':
      console.log(pubkey(await text(process.stdin)));
      return;
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main().catch(fail('phantommesh'));
