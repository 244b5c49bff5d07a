// bench:integrity — the integrity monitor: full-rescan hashing throughput against `sha256sum` of the same files in the
// same run, the actor's idle CPU in a running appliance, and canary read → finding latency.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../bus/client.js';
import { loadIdentity } from '../bus/identities.js';
import { ensureOperatorKey } from '../bus/operator-keys.js';
import { homePaths } from '../common/paths.js';
import { getSodium } from '../common/sodium.js';
import { disposeAppliance, startAppliance } from '../test/helpers/appliance.js';
import { idleCpuPct, rescan } from './integrity-measure.js';
import { emit, round, summarize, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
const READS = Number(process.env.BENCH_CANARY_READS ?? 30);
const TARGETS = { rescan: 0.8, idleCpuPct: 1, canaryP99Ms: 1000 };

async function appliance(): Promise<{ idleCpuPct: number; canary: { p50: number; p99: number; n: number } }> {
  const a = await startAppliance({ timeoutMs: 120_000 });
  try {
    const paths = homePaths(a.home);
    if (a.ctl(['ping', 'integrity', '--json']).code !== 0) throw new Error(a.output());
    const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
    const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
    try {
      type St = { state: string; findings: { key: string; count: number }[]; canaries: { watching: boolean }[] };
      const status = () => cli.command<St>(key, 'integrity', 'status');
      for (let i = 0; ; i++) {
        const s = await status();
        if (s.state === 'trusted' && s.canaries.length && s.canaries.every((c) => c.watching)) break;
        if (i > 600) throw new Error('integrity not trusted in time');
        await new Promise((r) => setTimeout(r, 100));
      }
      const pid = (await cli.command<{ pid: number }>(key, 'integrity', 'ping')).pid;
      // Idle: no request reaches the actor while measured (its own scans and ticks are what is counted).
      const idle = await idleCpuPct(pid, IDLE_S);

      const canary = join(paths.vault, 'recovery-key.txt');
      const countOf = async () => (await status()).findings.find((f) => f.key === `canary:${canary}`)?.count ?? 0;
      const lat: number[] = [];
      for (let i = 0; i < READS; i++) {
        const before = await countOf();
        const t0 = performance.now();
        readFileSync(canary);
        for (;;) {
          if ((await countOf()) > before) break;
          if (performance.now() - t0 > 10_000) throw new Error('no finding within 10 s');
        }
        lat.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 300));
      }
      return { idleCpuPct: idle, canary: summarize(lat) };
    } finally {
      await cli.close();
    }
  } finally {
    await disposeAppliance(a);
  }
}

async function main(): Promise<void> {
  await getSodium();
  const r = await rescan(ROUNDS);
  const ratio = r.ours / r.base;
  console.log(table([
    ['rescan (best of ' + ROUNDS + ')', 'files', 'MB', 'MB/s'],
    ['integrity monitor', r.files, round(r.mb, 1), round(r.ours, 0)],
    ['sha256sum', r.files, round(r.mb, 1), round(r.base, 0)],
  ]));
  const app = await appliance();
  console.log(table([
    ['appliance', 'value', 'target'],
    [`integrity idle CPU over ${IDLE_S} s (% of a core)`, round(app.idleCpuPct, 3), `< ${TARGETS.idleCpuPct}`],
    [`canary read → finding p50 (ms, ${app.canary.n} reads)`, round(app.canary.p50, 1), ''],
    ['canary read → finding p99 (ms)', round(app.canary.p99, 1), `< ${TARGETS.canaryP99Ms}`],
  ]));
  const met = ratio >= TARGETS.rescan && app.idleCpuPct < TARGETS.idleCpuPct && app.canary.p99 < TARGETS.canaryP99Ms;
  emit({
    bench: 'integrity', rescan_files: r.files, rescan_mb: round(r.mb, 1), ours_mbps: round(r.ours, 0), base_mbps: round(r.base, 0), ratio: round(ratio, 2), target: TARGETS.rescan,
    idle_cpu_pct: round(app.idleCpuPct, 3), idle_target_pct: TARGETS.idleCpuPct, idle_s: IDLE_S,
    canary_p50_ms: round(app.canary.p50, 1), canary_p99_ms: round(app.canary.p99, 1), canary_target_ms: TARGETS.canaryP99Ms, canary_reads: app.canary.n, met,
  });
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
