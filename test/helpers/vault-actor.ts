// Test helper: the real vault actor process (from source, via tsx) on a test bus, with a fast Argon2id policy.
import { fork, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestBus } from './bus.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** A policy folder like the shipped one, with Argon2id 'interactive' so tests do not spend 256 MiB per unlock. */
export function fastPolicyDir(edit: (yaml: string) => string = (y) => y): string {
  const d = mkdtempSync(join(tmpdir(), 'secai-policy-'));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (/\.ya?ml$/.test(f)) cpSync(join(ROOT, 'policy', f), join(d, f));
  const text = readFileSync(join(ROOT, 'policy', 'policy.yaml'), 'utf8').replace(/^(\s+argon2:) moderate$/m, '$1 interactive');
  writeFileSync(join(d, 'policy.yaml'), edit(text));
  return d;
}

export async function startActorProcess(bus: TestBus, name: string, configDir: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = fork(join(ROOT, 'actors', name, 'main.ts'), [], {
    execArgv: ['--import=tsx'],
    env: { ...process.env, SECAI_HOME: bus.paths.home, SECAI_CONFIG: configDir, SECAI_BUS_URL: bus.url, SECAI_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`${name} did not report ready`)), 30_000);
    child.on('message', (m: { type?: string }) => { if (m?.type === 'ready') { clearTimeout(t); ok(); } });
    child.on('exit', (code) => { clearTimeout(t); fail(new Error(`${name} exited with ${code}`)); });
  });
  return child;
}

export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) return ok();
    child.once('exit', () => ok());
    child.kill('SIGKILL');
  });
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
