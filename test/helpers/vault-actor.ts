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
  // The catalog's detached signature travels with it (catalog.yaml.sig).
  for (const f of readdirSync(join(ROOT, 'policy'))) if (/\.ya?ml(\.sig)?$/.test(f)) cpSync(join(ROOT, 'policy', f), join(d, f));
  const text = readFileSync(join(ROOT, 'policy', 'policy.yaml'), 'utf8').replace(/^(\s+argon2:) moderate$/m, '$1 interactive');
  writeFileSync(join(d, 'policy.yaml'), edit(text));
  return d;
}

/** Actors that take a policy section from the policy actor at start (runtime/config-section.ts). */
const SECTION_USERS = new Set(['vault', 'auth', 'quarantine', 'inference', 'airlock', 'gateway']);
const policyActors = new WeakMap<TestBus, Promise<ChildProcess>>();
/** Actors that unlock or load only in an attested runtime (runtime/attestation-gate.ts): they get the bus's attestor. */
const GATED = new Set(['vault', 'inference']);
const attestors = new WeakMap<TestBus, Promise<ChildProcess>>();

/**
 * Starts an actor process. One that needs a policy section gets the bus's policy actor first (started once per
 * bus, from the same config folder); asking for 'policy' itself returns that one.
 */
export async function startActorProcess(bus: TestBus, name: string, configDir: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  if (name === 'policy' || (SECTION_USERS.has(name) && bus.ids.has('policy'))) {
    let policy = policyActors.get(bus);
    if (!policy || (await policy).exitCode !== null || (await policy).signalCode !== null) {
      // Not holding the test process open: it leaves when the test ends (the actor exits when its parent goes).
      policy = forkActor(bus, 'policy', configDir, name === 'policy' ? env : {}).then((c) => { c.unref(); c.channel?.unref(); return c; });
      policyActors.set(bus, policy);
    }
    if (name === 'policy') return policy;
    await policy;
  }
  if (GATED.has(name) && bus.ids.has('attestor')) {
    let attestor = attestors.get(bus);
    if (!attestor || (await attestor).exitCode !== null || (await attestor).signalCode !== null) {
      attestor = startActorProcess(bus, 'policy', configDir)
        .then(() => forkActor(bus, 'attestor', configDir, {}))
        .then((c) => { c.unref(); c.channel?.unref(); return c; });
      attestors.set(bus, attestor);
    }
    await attestor;
  }
  return forkActor(bus, name, configDir, env);
}

async function forkActor(bus: TestBus, name: string, configDir: string, env: Record<string, string>): Promise<ChildProcess> {
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
