// Runs the Debian nats-server as a child process on a loopback port and reports when it accepts clients.
import { parseEnv, secaiEnv } from '../common/env.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { NatsLog } from './nats-log.js';
import { parseViolation, type ViolationLine } from './nats-violations.js';

/** SECAI_NATS_SERVER, default `nats-server` on PATH (read when first needed, so a bad setting fails inside the entry point's error handling). */
export const natsServerBin = (): string => secaiEnv().natsServer;

/** A free loopback port, chosen once so that a restarted server comes back where clients expect it. */
export function pickLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * SECAI_BUS_PORT fixes the bus port (the image does, so that its nftables rule can close the port to
 * every uid but the appliance's); unset, a free port is picked at start.
 */
export function busPortFromEnv(env?: NodeJS.ProcessEnv): number | undefined {
  return env ? parseEnv({ SECAI_BUS_PORT: env.SECAI_BUS_PORT }).busPort : secaiEnv().busPort;
}

export interface NatsProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
}

/**
 * Starts nats-server with `configPath` (which must set ports_file_dir to `portsDir`) and waits for its ports file.
 * `logFile` is written from the server's stderr through NatsLog (bounded, per-connection noise summarised), not
 * with `-l`: nats-server 2.9 writes one line per refused connection and its own rotation keeps every old file.
 */
export async function startNatsServer(opts: {
  configPath: string; portsDir: string; timeoutMs?: number; logFile?: string;
  /** Each permission violation the server logs (needs `logFile`): bus/nats-violations.ts. */
  onViolation?: (v: ViolationLine) => void;
}): Promise<NatsProcess> {
  mkdirSync(opts.portsDir, { recursive: true, mode: 0o700 });
  for (const f of readdirSync(opts.portsDir)) if (f.endsWith('.ports')) rmSync(join(opts.portsDir, f), { force: true });
  const args = ['-c', opts.configPath];
  const child = spawn(natsServerBin(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const onViolation = opts.onViolation;
  const onLine = onViolation && ((line: string) => { const v = parseViolation(line); if (v) onViolation(v); });
  const log = opts.logFile ? new NatsLog({ file: opts.logFile, ...(onLine && { onLine }) }) : undefined;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4096); log?.write(d); });
  child.stderr?.once('close', () => log?.close());
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new SecaiError(ErrorCode.BUS_START, `cannot run ${natsServerBin()}: ${err.message} (is the Debian package nats-server installed? run npm run setup)`)));
    child.once('exit', (code, sig) => reject(new SecaiError(ErrorCode.BUS_START, `nats-server exited (${code ?? sig}) during start: ${stderr.trim()}`)));
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const ready = (async () => {
    while (Date.now() < deadline) {
      const file = join(opts.portsDir, `${natsServerBin().split('/').pop()}_${child.pid}.ports`);
      if (existsSync(file)) {
        try {
          const ports = JSON.parse(readFileSync(file, 'utf8')) as { nats?: string[] };
          const url = ports.nats?.[0];
          if (url) {
            const port = Number(new URL(url).port);
            return { child, pid: child.pid!, port, url: `nats://127.0.0.1:${port}` };
          }
        } catch {
          // lint-ok: written but not complete yet: read again
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    throw new SecaiError(ErrorCode.BUS_START, `nats-server did not report ready within ${opts.timeoutMs ?? 10_000} ms: ${stderr.trim()}`);
  })();
  const result = await Promise.race([ready, exited]);
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  exited.catch(() => {}); // lint-ok: the race above observed it; this only keeps a later exit from being an unhandled rejection
  return result;
}

/** Asks nats-server to stop (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
export function stopProcess(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}
