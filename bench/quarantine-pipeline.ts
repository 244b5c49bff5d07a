// Child process of bench:quarantine: runs stages 1–5 on one file and prints wall time, verdicts and peak RSS as JSON.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../actors/quarantine/stages/format.js';
import { integrityStage } from '../actors/quarantine/stages/integrity.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, staticScanStage } from '../actors/quarantine/stages/static-scan.js';
import type { Artifact, StageResult } from '../actors/quarantine/stages/types.js';

const path = process.argv[2]!;
const artifact: Artifact = { path, kind: 'file', name: basename(path), origin: { type: 'local' }, size: 0 };
const none = () => {};
const t0 = performance.now();
const results: StageResult[] = [];
const measured: string[] = [];
const here = new URL('../actors/quarantine/stages/', import.meta.url);
if (existsSync(new URL('source.ts', here))) {
  const { sourceStage } = await import('../actors/quarantine/stages/source.js');
  results.push(await sourceStage(artifact, { allowlist: { sources: [], ip_literals: [] }, local: 'warn' }, none));
  measured.push('1');
}
results.push(await formatStage(artifact, DEFAULT_FORMAT_OPTIONS, none));
measured.push('2');
results.push(await integrityStage(artifact, { pins: new Map(), requirePin: false }, none));
measured.push('3');
if (existsSync(new URL('provenance.ts', here))) {
  const { provenanceStage } = await import('../actors/quarantine/stages/provenance.js');
  results.push(await provenanceStage(artifact, { trustedKeys: [], requireSignature: false }, none));
  measured.push('4');
}
results.push(await staticScanStage(artifact, DEFAULT_STATIC_SCAN_OPTIONS, none));
measured.push('5');
const wallMs = performance.now() - t0;
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
const scan = results.find((r) => r.stage === 'static_scan')!;
process.stdout.write(JSON.stringify({
  wallMs,
  peakRssMb: hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024,
  stages: measured.join(','),
  verdicts: results.map((r) => `${r.stage}:${r.verdict}`),
  staticScan: { reason: scan.reason, sampled: scan.evidence.sampled, tensorCount: scan.evidence.tensorCount, merkleRoot: scan.evidence.merkleRoot, workers: (scan.evidence.files as { workers: number }[])[0]?.workers },
}) + '\n');
