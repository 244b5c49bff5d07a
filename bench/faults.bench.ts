// bench:faults — recovery times with default settings (SIGSTOP of an actor to its first answer after the restart;
// freed disk space to commands answering) and the heartbeat's idle CPU: the same appliance with heartbeats on and off,
// side by side in the same window.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../bus/client.js';
import { loadIdentity } from '../bus/identities.js';
import { ensureOperatorKey } from '../bus/operator-keys.js';
import { freeMb } from '../common/storage.js';
import { homePaths } from '../common/paths.js';
import { disposeAppliance, startAppliance, tempHome, type Appliance } from '../test/helpers/appliance.js';
import { childrenOf, processTree, procView } from '../actors/supervisor/proc-view.js';
import { emit, round, summarize, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 120); // long enough that tick rounding (10 ms per process) stays well under 0.1 %
const TICK_HZ = 100; // getconf CLK_TCK on Linux

async function cliBus(a: Appliance) {
  const p = homePaths(a.home);
  const key = await ensureOperatorKey(p.operatorKey, p.trustedOperators);
  const bus = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(p.busKeys, 'cli'), reconnect: true });
  return { bus, key };
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined); // lint-ok: not yet; polled again
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** SIGSTOP of the registry to its first answer from the restarted process. */
async function hungActor(a: Appliance): Promise<number[]> {
  const { bus, key } = await cliBus(a);
  const out: number[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const before = await bus.command<{ pid: number }>(key, 'registry', 'ping');
      const t0 = performance.now();
      process.kill(before.pid, 'SIGSTOP');
      await until(async () => {
        const r = await bus.command<{ pid: number }>(key, 'registry', 'ping', {}, 250);
        return r.pid !== before.pid ? r : undefined;
      });
      out.push(performance.now() - t0);
      // The next round starts from a stable slot (its backoff streak forgiven only after stableMs; a fresh start is fine).
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await bus.close();
  }
  return out;
}

/** A real ballast file pushes free space below the minimum; removing it, to the next import taken and health ok. */
async function diskFreed(): Promise<{ importMs: number[]; healthMs: number[] }> {
  const home = tempHome('secai-bench-faults-');
  const min = Math.floor(freeMb(home)) - 2048;
  const a = await startAppliance({ home, headless: true, env: { SECAI_MIN_FREE_MB: String(min) } });
  const ballast = `${home}.ballast`;
  const model = join(home, 'm.gguf');
  writeFileSync(model, 'GGUF not a model');
  const { bus, key } = await cliBus(a);
  const importMs: number[] = [];
  const healthMs: number[] = [];
  const health = async () => (await fetch(`${a.httpUrl}/api/health`)).status;
  try {
    for (let i = 0; i < ROUNDS; i++) {
      if (spawnSync('fallocate', ['-l', '4G', ballast]).status !== 0) throw new Error('fallocate failed');
      await until(async () => ((await health()) === 503 ? true : undefined));
      const t0 = performance.now();
      rmSync(ballast);
      let imported = 0;
      let healthy = 0;
      await until(async () => {
        if (!imported) await bus.command(key, 'quarantine', 'import', { path: model }, 2000).then(() => { imported = performance.now() - t0; }, () => undefined); // lint-ok: refused while the disk is still judged full; polled again
        if (!healthy && (await health()) === 200) healthy = performance.now() - t0;
        return imported && healthy ? true : undefined;
      });
      importMs.push(imported);
      healthMs.push(healthy);
    }
  } finally {
    rmSync(ballast, { force: true });
    await bus.close();
    await disposeAppliance(a);
  }
  return { importMs, healthMs };
}

/** utime + stime (clock ticks) of a process and all its descendants. */
function treeTicks(root: number): number {
  return processTree(root).reduce((n, pid) => n + (procView(pid)?.ticks ?? 0), 0);
}

/** Node processes (the actors) under an appliance's supervisor: its children less nats-server. */
function actorCount(root: number): number {
  return childrenOf(root).filter((pid) => procView(pid)?.comm !== 'nats-server').length;
}

/**
 * The machine's floor for the same liveness proof: a bare Node parent forking as many bare Node children as the
 * appliance has actors, and (when beatMs > 0) sending each a heartbeat over IPC that it answers, as the supervisor
 * does. No bus, no machines: only the process wake-ups that any per-process heartbeat pays on this machine.
 */
function floorTree(children: number, beatMs: number): ChildProcess {
  // A child ends with its parent (the IPC channel closes), so a bench that dies leaves no floor processes behind.
  const kid = "process.on('message', (m) => process.send(m)); process.on('disconnect', () => process.exit(0));";
  const parent = `const { spawn } = require('node:child_process');
const kids = Array.from({ length: ${children} }, () => spawn(process.execPath, ['-e', ${JSON.stringify(kid)}], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] }));
kids.forEach((k) => k.on('message', () => {}));
let seq = 0; if (${beatMs} > 0) setInterval(() => kids.forEach((k) => k.send({ type: 'heartbeat', seq: ++seq })), ${beatMs});
process.on('SIGTERM', () => { kids.forEach((k) => k.kill()); process.exit(0); });`;
  return spawn(process.execPath, ['-e', parent], { stdio: 'ignore' });
}

async function idleCpu(): Promise<{ on: number; off: number; floorOn: number; floorOff: number; actors: number }> {
  const [on, off] = await Promise.all([
    startAppliance({ headless: true, env: { SECAI_HEARTBEAT_MS: '1000' } }),
    startAppliance({ headless: true, env: { SECAI_HEARTBEAT_MS: '0' } }),
  ]);
  const actors = actorCount(on.child.pid!);
  const floors = [floorTree(actors, 1000), floorTree(actors, 0)];
  try {
    await new Promise((r) => setTimeout(r, 5000)); // settle after start
    const pids = [on.child.pid!, off.child.pid!, floors[0]!.pid!, floors[1]!.pid!];
    const t0 = pids.map(treeTicks);
    const at = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const secs = (performance.now() - at) / 1000;
    const [cOn, cOff, fOn, fOff] = pids.map((p, i) => (((treeTicks(p) - t0[i]!) / TICK_HZ) / secs) * 100);
    return { on: cOn!, off: cOff!, floorOn: fOn!, floorOff: fOff!, actors };
  } finally {
    for (const f of floors) f.kill('SIGTERM');
    await Promise.all([disposeAppliance(on), disposeAppliance(off)]);
  }
}

async function main(): Promise<void> {
  const a = await startAppliance({ headless: true });
  let hung: number[];
  try {
    hung = await hungActor(a);
  } finally {
    await disposeAppliance(a);
  }
  const disk = await diskFreed();
  const cpu = await idleCpu();
  const h = summarize(hung);
  const di = summarize(disk.importMs);
  const dh = summarize(disk.healthMs);
  const heartbeatPct = cpu.on - cpu.off;
  const floorPct = cpu.floorOn - cpu.floorOff;
  console.log(table([
    ['measure', 'p50', 'max', 'target'],
    ['SIGSTOP actor → restarted and answering (ms)', round(h.p50, 0), round(Math.max(...hung), 0), '< 5000'],
    ['disk freed → import taken (ms)', round(di.p50, 0), round(Math.max(...disk.importMs), 0), '< 5000'],
    ['disk freed → /api/health 200 (ms)', round(dh.p50, 0), round(Math.max(...disk.healthMs), 0), '< 5000'],
    ['idle CPU, heartbeats on (% of a core)', round(cpu.on, 3), '', ''],
    ['idle CPU, heartbeats off (% of a core)', round(cpu.off, 3), '', ''],
    ['heartbeat cost (% of a core)', round(heartbeatPct, 3), '', '< 0.5'],
    [`floor: bare Node IPC heartbeat to ${cpu.actors} processes (% of a core)`, round(floorPct, 3), '', ''],
  ]));
  console.log(`heartbeat cost / floor on this machine: ${round(heartbeatPct / Math.max(floorPct, 0.01), 2)}`);
  const met = Math.max(...hung) < 5000 && Math.max(...disk.importMs, ...disk.healthMs) < 5000 && heartbeatPct < 0.5;
  emit({
    bench: 'faults', hung_actor_p50_ms: round(h.p50, 0), hung_actor_max_ms: round(Math.max(...hung), 0),
    disk_import_p50_ms: round(di.p50, 0), disk_health_p50_ms: round(dh.p50, 0), disk_max_ms: round(Math.max(...disk.importMs, ...disk.healthMs), 0),
    idle_cpu_on_pct: round(cpu.on, 3), idle_cpu_off_pct: round(cpu.off, 3), heartbeat_cpu_pct: round(heartbeatPct, 3),
    heartbeat_floor_pct: round(floorPct, 3), actors: cpu.actors,
    target_ms: 5000, target_cpu_pct: 0.5, met,
  });
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
