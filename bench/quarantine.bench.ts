// bench:quarantine — stages 1–5 on a generated 1 GiB GGUF against `sha256sum` of the same file, page cache warm for both.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBenchModel } from './quarantine-fixture.js';
import { emit, round, table } from './stats.js';

const ROUNDS = Number(process.env.SECAI_BENCH_ROUNDS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'secai-bench-q-'));
const file = join(dir, 'bench.gguf');
try {
  const g0 = performance.now();
  writeBenchModel(file);
  const size = Number(execFileSync('stat', ['-c', '%s', file]).toString().trim());
  process.stderr.write(`generated ${(size / 2 ** 30).toFixed(3)} GiB in ${((performance.now() - g0) / 1000).toFixed(1)} s\n`);

  const sha = (): number => {
    const t = performance.now();
    execFileSync('sha256sum', [file]);
    return performance.now() - t;
  };
  // OpenSSL's SHA-256 (what Node's crypto uses) as a second, usually faster baseline.
  const ossl = (): number => {
    const t = performance.now();
    execFileSync('openssl', ['dgst', '-sha256', file]);
    return performance.now() - t;
  };
  const pipeline = (): { wallMs: number; peakRssMb: number; stages: string; verdicts: string[]; staticScan: Record<string, unknown> } => {
    const r = spawnSync(process.execPath, ['--import=tsx', new URL('./quarantine-pipeline.ts', import.meta.url).pathname, file], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`pipeline child failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  // Warm the page cache for both, then alternate so neither gets a cache advantage.
  sha();
  const warm = pipeline();
  const shaMs: number[] = [];
  const osslMs: number[] = [];
  const pipeMs: number[] = [];
  let last = warm;
  for (let i = 0; i < ROUNDS; i++) {
    shaMs.push(sha());
    last = pipeline();
    pipeMs.push(last.wallMs);
    osslMs.push(ossl());
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const s = med(shaMs), p = med(pipeMs);
  const o = med(osslMs);
  const best = (xs: number[]) => Math.min(...xs);
  const ratio = p / s;
  const peak = Math.max(warm.peakRssMb, last.peakRssMb);
  process.stderr.write(`load average at the end: ${execFileSync('cat', ['/proc/loadavg']).toString().trim()}\n`);
  console.log(table([
    ['measure', 'median', 'best', 'all runs'],
    ['sha256sum wall (ms)', round(s, 0), round(best(shaMs), 0), shaMs.map((x) => round(x, 0)).join(' ')],
    [`stages ${last.stages} wall (ms)`, round(p, 0), round(best(pipeMs), 0), pipeMs.map((x) => round(x, 0)).join(' ')],
    ['openssl dgst -sha256 wall (ms)', round(o, 0), round(best(osslMs), 0), osslMs.map((x) => round(x, 0)).join(' ')],
    ['ratio to sha256sum (target ≤ 2.0)', round(ratio, 2), round(best(pipeMs) / best(shaMs), 2), ''],
    ['ratio to openssl sha256', round(p / o, 2), round(best(pipeMs) / best(osslMs), 2), ''],
    ['pipeline peak RSS MB (target < 256)', round(peak, 1), '', ''],
    ['file size (GiB)', round(size / 2 ** 30, 3), '', ''],
    ['verdicts', last.verdicts.join(' '), '', ''],
    ['static scan', String(last.staticScan.reason), '', `workers ${String(last.staticScan.workers)}, sampled ${String(last.staticScan.sampled)}`],
  ]));
  emit({
    bench: 'quarantine', stages: last.stages, fileBytes: size, sha256sumMs: round(s, 1), opensslMs: round(o, 1), ratioOpenssl: round(p / o, 3), bestRatio: round(best(pipeMs) / best(shaMs), 3), bestRatioOpenssl: round(best(pipeMs) / best(osslMs), 3), pipelineMs: round(p, 1), ratio: round(ratio, 3), target: 2.0,
    peakRssMb: round(peak, 1), rssTarget: 256, met: ratio <= 2.0 && peak < 256,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
