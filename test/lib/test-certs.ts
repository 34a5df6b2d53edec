// A throwaway PKI for TLS tests, made with Debian's openssl: a CA, a server certificate for the given
// IP addresses and names, a client certificate from the same CA, and a client certificate from
// another CA (which a server checking client certificates must refuse). EC P-256 keys: made in
// milliseconds. Everything is in `dir` (0700), valid for a day.

import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Signed by another CA, which the server does not trust. */
  rogueCert: string;
  rogueKey: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir, timeout: 20_000 });
}

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    ...newKey,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
  ]);
}

async function issue(dir: string, ca: string, name: string, extensions: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(dir, [
    'req',
    ...newKey,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  ]);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  ]);
}

/** Makes the PKI in `dir`; the server certificate names `ips` and `names` (subjectAltName). */
export async function makeTestPki(dir: string, ips: string[], names: string[] = []): Promise<TestPki> {
  await chmod(dir, 0o700);
  await Promise.all([makeCa(dir, 'test-ca'), makeCa(dir, 'rogue-ca')]);
  const san = [...ips.map((ip) => `IP:${ip}`), ...names.map((name) => `DNS:${name}`)].join(',');
  await Promise.all([
    issue(dir, 'test-ca', 'server', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`),
    issue(dir, 'test-ca', 'client', 'extendedKeyUsage=clientAuth\n'),
    issue(dir, 'rogue-ca', 'rogue', 'extendedKeyUsage=clientAuth\n'),
  ]);
  const at = (file: string): string => join(dir, file);
  return {
    dir,
    ca: at('test-ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
    rogueCert: at('rogue.pem'),
    rogueKey: at('rogue.key'),
  };
}
