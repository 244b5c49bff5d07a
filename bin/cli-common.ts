// What secai and securectl share: finding the running appliance, connecting as `cli`, printing results.
import { existsSync, readFileSync } from 'node:fs';
import { BusClient } from '../bus/client.js';
import type { OperatorKey } from '../bus/envelope.js';
import { loadIdentity } from '../bus/identities.js';
import { ensureOperatorKey } from '../bus/operator-keys.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { homePaths, secaiHome } from '../common/paths.js';
import { faultSettings } from '../common/fault-settings.js';

export interface CliSession {
  bus: BusClient;
  key: OperatorKey;
  close(): Promise<void>;
}

export async function openCliSession(env?: NodeJS.ProcessEnv): Promise<CliSession> {
  const paths = homePaths(secaiHome(env));
  if (!existsSync(paths.busUrlFile)) {
    throw new SecaiError(ErrorCode.NOT_RUNNING, `no appliance has run with SECAI_HOME=${paths.home} (start it with: npm start)`);
  }
  const url = readFileSync(paths.busUrlFile, 'utf8').trim();
  const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
  // Every verb has a deadline: the connect and each answer wait SECAI_CLI_DEADLINE_MS at most (ops that declare a
  // longer budget, such as models load, pass theirs), and close() gives up draining after 2 s.
  const { cliDeadlineMs } = faultSettings(env);
  const bus = await BusClient.connect({ url, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false, timeoutMs: cliDeadlineMs, commandTimeoutMs: cliDeadlineMs });
  return { bus, key, close: () => bus.close() };
}

/** Exit codes as scanners use them: 0 clean, 1 found something, 2 error. */
export const Exit = { OK: 0, FOUND: 1, ERROR: 2 } as const;

export function printError(err: unknown, json: boolean): void {
  const e = err instanceof SecaiError ? err.toData() : { code: ErrorCode.INTERNAL, message: (err as Error)?.message ?? String(err) };
  if (json) process.stdout.write(JSON.stringify({ ok: false, error: e }) + '\n');
  else process.stderr.write(`error: ${e.message} [${e.code}]\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
