// pino loggers: JSON lines to stdout, pretty-printed when stdout is a terminal.
import { secaiEnv } from './env.js';
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level: string = secaiEnv().logLevel): Logger {
  const pretty = process.stdout.isTTY && !secaiEnv().logJson;
  return pino({
    name,
    level,
    // Secrets never reach a log line, even by accident through a spread object.
    redact: { paths: ['passphrase', '*.passphrase', 'seed', '*.seed', 'secret', '*.secret', 'key', '*.key'], censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l' } } } : {}),
  });
}
