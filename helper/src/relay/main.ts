// phantommesh-relay as a process: arguments, the upstream address resolved once, the relay and its
// metrics endpoint, and the signals (SIGUSR1 logs the counters, SIGTERM/SIGINT stop cleanly).

import { lookup } from 'node:dns/promises';
import { parseRelayArgs, RelayConfigError, USAGE } from './config.ts';
import { renderPrometheus, summaryLine } from './counters.ts';
import { Relay } from './relay.ts';
import { serveRelayMetrics } from './metrics-server.ts';
import { formatRemote } from './link.ts';

/** One line per event on stderr (journald adds the time and the unit). */
const log = (line: string): void => void process.stderr.write(`phantommesh-relay: ${line}\n`);

export async function main(args: string[]): Promise<number> {
  let config;
  try {
    config = parseRelayArgs(args);
  } catch (error) {
    if (!(error instanceof RelayConfigError)) throw error;
    console.error(`phantommesh-relay: ${error.message}\n(phantommesh-relay --help for the options)`);
    return 2;
  }
  if (config === 'help') {
    console.log(USAGE);
    return 0;
  }

  let to;
  try {
    const found = await lookup(config.to.host, { verbatim: true });
    to = {
      address: found.address,
      port: config.to.port,
      family: found.family === 6 ? (6 as const) : (4 as const),
    };
  } catch (error) {
    console.error(
      `phantommesh-relay: --to ${config.to.host}: cannot resolve it: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
    return 1;
  }

  const relay = new Relay({ listen: config.listen, to, tls: config.tls, limits: config.limits, log });
  try {
    await relay.start();
  } catch (error) {
    console.error(`phantommesh-relay: ${(error as Error).message}`);
    return 1;
  }
  let metrics: { close(): Promise<void> } | undefined;
  if (config.metrics) {
    try {
      metrics = await serveRelayMetrics(config.metrics.address, config.metrics.port, () =>
        renderPrometheus(relay.counters),
      );
      log(`metrics on http://${formatRemote(config.metrics.address, config.metrics.port)}/metrics`);
    } catch (error) {
      await relay.stop();
      console.error(
        `phantommesh-relay: --metrics ${formatRemote(config.metrics.address, config.metrics.port)}: cannot listen: ${(error as NodeJS.ErrnoException).code ?? error}`,
      );
      return 1;
    }
  }

  process.on('SIGUSR1', () => log(summaryLine(relay.counters)));
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: closing every connection`);
      // A second signal does not wait for goodbyes.
      process.once('SIGTERM', () => process.exit(1));
      process.once('SIGINT', () => process.exit(1));
      void Promise.all([relay.stop(), metrics?.close()]).then(() => {
        log(summaryLine(relay.counters));
        log('stopped');
        resolve(0);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
