// pino loggers: JSON lines to stdout, pretty-printed when stdout is a terminal.
import { createRequire } from 'node:module';
import { secaiEnv } from './env.js';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const requireExternal = createRequire(import.meta.url);

/**
 * A terminal gets pino-pretty as an in-process stream, loaded only then: pino itself is bundled into each process
 * entry (loading it from node_modules cost every actor ~10 % of its start), and a pino transport would need its worker
 * files beside the bundle.
 */
function prettyStream(): DestinationStream {
  const pretty = requireExternal('pino-pretty') as (o: Record<string, unknown>) => DestinationStream;
  return pretty({ colorize: true, translateTime: 'HH:MM:ss.l', sync: true });
}

export function createLogger(name: string, level: string = secaiEnv().logLevel): Logger {
  const pretty = process.stdout.isTTY && !secaiEnv().logJson;
  const options = {
    name,
    level,
    // Secrets never reach a log line, even by accident through a spread object.
    redact: { paths: ['passphrase', '*.passphrase', 'seed', '*.seed', 'secret', '*.secret', 'key', '*.key'], censor: '[redacted]' },
  };
  return pretty ? pino(options, prettyStream()) : pino(options);
}
