#!/usr/bin/env node
// phantommesh-relay: carries WireGuard over TCP and WebSocket (TLS, mutual TLS) to a stock WireGuard
// server, for clients on networks that block UDP. See ../relay/ and docs/relay.md.

import { main } from '../relay/main.ts';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`phantommesh-relay: ${(error as Error)?.stack ?? String(error)}`);
    process.exit(1);
  },
);
