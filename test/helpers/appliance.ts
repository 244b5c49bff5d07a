// Test helper: a real appliance (built dist/, real nats-server) in a temporary SECAI_HOME, on free ports.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SECAI_BIN = join(ROOT, 'dist', 'bin', 'secai.js');
export const SECURECTL_BIN = join(ROOT, 'dist', 'bin', 'securectl.js');

export interface Appliance {
  home: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  output: () => string;
  busUrl: string;
  httpUrl: string;
  /** Runs securectl against this appliance; returns exit code and output. */
  ctl(args: string[], opts?: { timeoutMs?: number }): { code: number; stdout: string; stderr: string; json: () => any };
  stop(): Promise<number | null>;
}

export function tempHome(prefix = 'secai-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Starts `secai up --headless` (or with the web UI when `headless: false`) and resolves once it printed its ready line. */
export async function startAppliance(o: { home?: string; env?: Record<string, string>; timeoutMs?: number; headless?: boolean } = {}): Promise<Appliance> {
  if (!existsSync(SECAI_BIN)) throw new Error(`${SECAI_BIN} is missing: run npm run build (npm test does)`);
  const home = o.home ?? tempHome();
  const env: NodeJS.ProcessEnv = { ...process.env, SECAI_HOME: home, SECAI_HTTP_PORT: '0', SECAI_LOG_JSON: '1', SECAI_LOG_LEVEL: 'warn', ...o.env };
  const child = spawn(process.execPath, [SECAI_BIN, 'up', ...(o.headless === false ? [] : ['--headless'])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`appliance not ready in time:\n${out}`)), o.timeoutMs ?? 30_000);
    const check = () => { if (out.includes('secai ready:')) { clearTimeout(t); res(); } };
    child.stdout!.on('data', check);
    child.once('exit', (c) => { clearTimeout(t); rej(new Error(`appliance exited ${c}:\n${out}`)); });
  });
  const busUrl = readFileSync(join(home, 'bus', 'url'), 'utf8').trim();
  const httpFile = join(home, 'run', 'http.url');
  const httpUrl = existsSync(httpFile) ? readFileSync(httpFile, 'utf8').trim() : '';
  return {
    home, env, child, busUrl, httpUrl,
    output: () => out,
    ctl(args, opts = {}) {
      const r = spawnSync(process.execPath, [SECURECTL_BIN, ...args], { env, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) };
    },
    stop: () => new Promise((res) => {
      if (child.exitCode !== null) { res(child.exitCode); return; }
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', (code) => { clearTimeout(t); res(code); });
      child.kill('SIGTERM');
    }),
  };
}

/** The one-time first-run setup code, read the way an operator does: from the line `secai up` printed. */
export function setupCode(a: Appliance): string {
  const m = /^secai setup code: ([A-Z2-7]{5}-[A-Z2-7]{5}) /m.exec(a.output());
  if (!m) throw new Error(`secai up printed no setup code:\n${a.output()}`);
  return m[1]!;
}

/** For t.teardown: stop the appliance and remove its home. */
export async function disposeAppliance(a: Appliance): Promise<void> {
  await a.stop();
  rmSync(a.home, { recursive: true, force: true });
}
