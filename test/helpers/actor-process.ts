// Test helper: one real actor process from sources (tsx) on a test bus, stopped with the test; its stderr is
// kept for the failure message when it does not report ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Test } from 'tap';
import { ROOT } from './appliance.js';
import type { TestBus } from './bus.js';

export function startActor(bus: TestBus, name: string, config: string, t: Test, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import=tsx', join(ROOT, 'actors', name, 'main.ts')], {
    env: { ...process.env, SECAI_BUS_URL: bus.url, SECAI_HOME: bus.paths.home, SECAI_CONFIG: config, SECAI_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  t.teardown(() => new Promise<void>((r) => { if (child.exitCode !== null || child.signalCode !== null) return r(); child.once('exit', () => r()); child.kill('SIGTERM'); }));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${name} not ready:\n${stderr}`)), 120_000);
    child.on('message', (m: { type?: string }) => { if (m?.type === 'ready') { clearTimeout(timer); res(child); } });
    child.once('exit', (c) => { clearTimeout(timer); rej(new Error(`${name} exited ${c}:\n${stderr}`)); });
  });
}
