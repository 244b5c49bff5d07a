// What bench:integrity and bench:detect both measure of the integrity monitor: its full-rescan hashing throughput against
// `sha256sum` of the same files in the same run, and a running actor's idle CPU (read from /proc).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, type ScanDeps } from '../actors/integrity/scan.js';
import { targets } from '../actors/integrity/targets.js';
import { procView } from '../actors/supervisor/proc-view.js';
import { homePaths, projectRoot } from '../common/paths.js';

export interface Rescan { files: number; mb: number; ours: number; base: number }

/** Best of `rounds` full rescans of the appliance's own targets, and `sha256sum` over the same files, in MB/s. */
export async function rescan(rounds: number): Promise<Rescan> {
  const home = mkdtempSync(join(tmpdir(), 'secai-bench-integrity-'));
  try {
    const paths = homePaths(home);
    const t = targets({ paths, configDir: join(projectRoot, 'policy'), projectRoot, natsServer: 'nats-server', pathVar: process.env['PATH'] });
    const deps = { targets: t, canaries: new Set<string>() } as unknown as ScanDeps;
    const entries = await measure(deps); // also warms the page cache for both sides
    const files = Object.entries(entries).filter(([, e]) => !e.sha256.startsWith('link:')).map(([p]) => p);
    const mb = files.reduce((n, p) => n + entries[p]!.size, 0) / 1e6;
    let ours = Infinity;
    let base = Infinity;
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      const again = await measure(deps);
      ours = Math.min(ours, performance.now() - t0);
      if (Object.keys(again).length !== Object.keys(entries).length) throw new Error('the rescan saw other files');
      t0 = performance.now();
      const s = spawnSync('xargs', ['-0', 'sha256sum'], { input: files.join('\0'), stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
      if (s.status !== 0) throw new Error(`sha256sum: ${s.stderr}`);
      base = Math.min(base, performance.now() - t0);
    }
    return { files: files.length, mb, ours: mb / (ours / 1000), base: mb / (base / 1000) };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const cpuTicks = (pid: number): number => {
  const v = procView(pid);
  if (!v) throw new Error(`process ${pid} is gone`);
  return v.ticks;
};

/** CPU of process `pid` over `seconds` in which nothing asks it anything, in % of one core. */
export async function idleCpuPct(pid: number, seconds: number): Promise<number> {
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  const c0 = cpuTicks(pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (((cpuTicks(pid) - c0) / hz) / seconds) * 100;
}
