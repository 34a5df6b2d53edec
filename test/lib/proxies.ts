// Debian's nginx and squid as the relay's tests run them, inside a namespace and a temp directory:
// nginx terminating TLS (with client certificates) in front of a relay's ws://, and squid as an HTTP
// CONNECT proxy (one open port, one with Basic auth). Shared by relay.test.ts, relay-transport.test.ts
// and transport-service.test.ts.

import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec, execIn, spawnIn, type Spawned } from './netns.ts';

export interface NginxOptions {
  /** A directory of the test's own (nginx's state goes in a subdirectory). */
  dir: string;
  /** Where nginx listens with TLS. */
  address: string;
  port: number;
  cert: string;
  key: string;
  /** Client certificates must be signed by this CA (ssl_verify_client on). */
  clientCa: string;
  /** The relay's ws:// listener nginx hands the WebSocket to, e.g. http://127.0.0.1:8082. */
  upstream: string;
  /** The WebSocket path (default /wg). */
  path?: string;
}

/** nginx terminating TLS with client certificates, proxying the WebSocket to the relay's ws://. */
export async function startNginx(ns: string, options: NginxOptions): Promise<Spawned> {
  const root = join(options.dir, 'nginx');
  await mkdir(root, { recursive: true });
  const conf = join(root, 'nginx.conf');
  await writeFile(
    conf,
    `
daemon off;
master_process off;
pid ${root}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${root}/body;
  proxy_temp_path ${root}/proxy;
  fastcgi_temp_path ${root}/fastcgi;
  uwsgi_temp_path ${root}/uwsgi;
  scgi_temp_path ${root}/scgi;
  server {
    listen ${options.address}:${options.port} ssl;
    ssl_certificate ${options.cert};
    ssl_certificate_key ${options.key};
    ssl_client_certificate ${options.clientCa};
    ssl_verify_client on;
    location ${options.path ?? '/wg'} {
      proxy_pass ${options.upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 300s;
    }
  }
}
`,
  );
  const started = spawnIn(ns, 'nginx', ['-c', conf, '-p', root]);
  // nginx prints nothing when it starts well: wait until its port answers.
  for (let waited = 0; ; waited += 50) {
    const listening = await execIn(ns, 'ss', ['-Hltn', `src ${options.address}:${options.port}`]);
    if (listening.trim() !== '') return started;
    if (waited > 5000) throw new Error(`nginx did not listen:\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface SquidOptions {
  /** A directory of the test's own; it is made traversable (squid reads its files as user proxy). */
  dir: string;
  /** squid listens here: port 3128 open, 3129 with Basic auth. */
  address: string;
  user: string;
  password: string;
  /** The only ports CONNECT may reach, as squid writes a range ("8080-8443"). */
  relayPorts: string;
}

/** squid: 3128 open, 3129 with Basic auth (basic_ncsa_auth, an htpasswd file made with openssl's
 *  apr1), CONNECT only, and only to the relay's ports. */
export async function startSquid(ns: string, options: SquidOptions): Promise<Spawned> {
  const root = join(options.dir, 'squid');
  await exec('mkdir', ['-m', '755', root]);
  await chmod(options.dir, 0o711);
  const hash = (await exec('openssl', ['passwd', '-apr1', options.password])).trim();
  await writeFile(join(root, 'htpasswd'), `${options.user}:${hash}\n`, { mode: 0o644 });
  const conf = join(root, 'squid.conf');
  await writeFile(
    conf,
    `
http_port ${options.address}:3128 name=open
http_port ${options.address}:3129 name=auth
pid_filename ${root}/squid.pid
cache_log /dev/stderr
access_log none
cache deny all
cache_mem 1 MB
coredump_dir ${root}
pinger_enable off
shutdown_lifetime 0 seconds
dns_nameservers 127.0.0.1
auth_param basic program /usr/lib/squid/basic_ncsa_auth ${root}/htpasswd
auth_param basic realm rt
acl open_port myportname open
acl auth_port myportname auth
acl relay_ports port ${options.relayPorts}
acl CONNECT method CONNECT
acl authed proxy_auth REQUIRED
http_access deny !CONNECT
http_access deny !relay_ports
http_access allow open_port
http_access allow auth_port authed
http_access deny all
`,
  );
  const started = spawnIn(ns, 'squid', ['-N', '-f', conf, '-d', '1']);
  await started.waitForLine(/Accepting HTTP Socket connections .*3129/, 10_000);
  return started;
}
