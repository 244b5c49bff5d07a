// Stage 5, the static scan: weights, templates and metadata judged from one streaming pass (shared with stage 3), scored 0–1.
import { readFileSync, statSync } from 'node:fs';
import { checkExternalData } from '../scan/onnx-external.js';
import { parseOnnxFile } from '../scan/onnx-parser.js';
import { ONNX_LAYOUT_LIMITS, onnxExternalLayout, onnxVarintFloatStats } from '../scan/onnx-weights.js';
import { scanFile, type FileScan, type GivenLayout } from '../scan/scan-file.js';
import { walkFolder } from '../scan/folder-walk.js';
import { scanTemplate, type Severity } from '../scan/jinja-scan.js';
import { layerOutliers } from '../scan/layer-outliers.js';
import { merkleRoot as merkleOf } from '../scan/merkle.js';
import { describeViolations, plausibility, type BoundedStatistic } from '../scan/weight-bounds.js';
import type { TensorStats } from '../scan/weight-stats.js';
import { guarded, stageResult } from './stage-result.js';
import type { StageResult, StageRunner } from './types.js';

export interface StaticScanOptions {
  /** Byte entropy above this (bits/byte) means encrypted or random data. */
  entropyFailBits: number;
  /** Bytes a tensor's entropy estimate needs before it is judged. */
  minEntropyBytes: number;
  warnScore: number;
  failScore: number;
  /** |robust z| of a layer's log σ against its role siblings above this is an outlier. */
  layerZThreshold: number;
  /** Fraction of identical measured blocks above this (with at least 64 blocks) is flagged. */
  duplicateBlockFraction: number;
  /** Elements measured per tensor before deterministic block sampling starts. */
  sampleCap: number;
  /** Worker threads for the weight analysis (undefined: chosen by file size and CPUs). */
  workers?: number;
  severityWeights: Record<Severity, number>;
}

export const DEFAULT_STATIC_SCAN_OPTIONS: StaticScanOptions = Object.freeze({
  entropyFailBits: 7.99,
  minEntropyBytes: 64 * 1024,
  warnScore: 0.3,
  failScore: 0.6,
  layerZThreshold: 8,
  duplicateBlockFraction: 0.25,
  sampleCap: 1 << 18,
  severityWeights: Object.freeze({ critical: 1, high: 0.6, medium: 0.3, low: 0.05 }),
});

export interface Finding {
  severity: Severity;
  rule: string;
  where: string;
  detail: string;
  /** For weight findings judged against an absolute bound (`implausible_weights`, `non_finite_weights`): what was measured. */
  tensor?: string;
  role?: string;
  statistic?: BoundedStatistic | 'non_finite_fraction';
  value?: number;
  bound?: number;
}

const SHELL = /(\$\([^)]*\)|`[^`]{2,}`|\b(?:curl|wget)\s+\S+|\|\s*(?:ba|z)?sh\b|;\s*(?:rm|sh|bash|curl|wget|nc)\b|\brm\s+-rf\b|\bpython3?\s+-c\b|\bpowershell\b|\/bin\/(?:ba)?sh\b)/i;
const URL = /\b(?:https?|ftp|file|s3|gs):\/\/[^\s'"]+/i;
const URL_KEYS = /(url|repo|source|license|link|homepage)/i;

function metadataFindings(meta: Record<string, unknown>, templates: Record<string, string>, where: string): Finding[] {
  const out: Finding[] = [];
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== 'string' || k in templates) continue;
    if (SHELL.test(v)) out.push({ severity: 'high', rule: 'shell_in_metadata', where: `${where}:${k}`, detail: v.match(SHELL)![0].slice(0, 80) });
    const u = v.match(URL);
    if (u) out.push({ severity: URL_KEYS.test(k) ? 'low' : 'medium', rule: 'url_in_metadata', where: `${where}:${k}`, detail: u[0].slice(0, 120) });
  }
  for (const [k, src] of Object.entries(templates)) {
    for (const f of scanTemplate(src)) out.push({ severity: f.severity, rule: `template_${f.rule}`, where: `${where}:${k}`, detail: f.detail });
  }
  return out;
}

function weightFindings(scan: Pick<FileScan, 'tensors' | 'nonZeroPaddingBytes'>, o: StaticScanOptions, where: string): { findings: Finding[]; layerGroups: number; maxLayerZ: number; boundedTensors: number; maxBoundRatio: number } {
  const out: Finding[] = [];
  const at = (t: string) => `${where}:${t}`;
  let boundedTensors = 0, maxBoundRatio = 0;
  for (const s of scan.tensors) {
    // Absolute bounds judge every tensor on its own, so a model too shallow for the sibling comparison is still judged.
    const p = plausibility(s);
    if (p) {
      boundedTensors++;
      maxBoundRatio = Math.max(maxBoundRatio, Number.isFinite(p.worstRatio) ? p.worstRatio : 1e300);
      if (p.nonFiniteFraction > 0) {
        out.push({
          severity: 'critical', rule: 'non_finite_weights', where: at(s.name),
          detail: `${s.nan} NaN, ${s.inf} Inf among ${s.values} measured values (fraction ${p.nonFiniteFraction < 1e-3 ? p.nonFiniteFraction.toExponential(2) : p.nonFiniteFraction.toPrecision(3)}, bound 0)`,
          tensor: s.name, role: p.role, statistic: 'non_finite_fraction', value: p.nonFiniteFraction, bound: 0,
        });
      }
      const v = p.violations[0];
      if (v) {
        out.push({
          severity: 'critical', rule: 'implausible_weights', where: at(s.name), detail: describeViolations(p.violations),
          tensor: s.name, role: p.role, statistic: v.statistic, value: v.value, bound: v.bound,
        });
      }
    }
    if (s.entropyBytes >= o.minEntropyBytes && s.byteEntropy > o.entropyFailBits) {
      out.push({ severity: 'critical', rule: 'high_entropy', where: at(s.name), detail: `${s.byteEntropy.toFixed(4)} bits/byte over ${s.entropyBytes} bytes: random or encrypted data` });
    }
    if (s.analysed && s.values >= 256 && s.nan + s.inf < s.values && s.variance <= 1e-20 * Math.max(1, s.mean * s.mean)) {
      const matrix = s.dims.filter((d) => d > 1).length >= 2;
      out.push({ severity: matrix ? 'high' : 'low', rule: 'constant_tensor', where: at(s.name), detail: `every measured value is ${s.mean}` });
    } else if (s.blocks >= 64 && s.duplicateBlockFraction > o.duplicateBlockFraction) {
      out.push({ severity: 'high', rule: 'repeated_blocks', where: at(s.name), detail: `${(s.duplicateBlockFraction * 100).toFixed(1)}% of ${s.blocks} measured blocks repeat earlier ones` });
    }
    if (s.distinctScales === 1 && s.blocks >= 64 && s.variance > 0) {
      out.push({ severity: 'medium', rule: 'constant_scales', where: at(s.name), detail: `all ${s.blocks} blocks share one scale` });
    }
  }
  const lo = layerOutliers(scan.tensors, o.layerZThreshold);
  for (const x of lo.outliers) {
    out.push({ severity: 'high', rule: 'layer_outlier', where: at(x.tensor), detail: `σ is e^${(x.value - x.median).toFixed(2)}× its ${x.role} siblings' median (robust z ${x.z.toFixed(1)})` });
  }
  if (scan.nonZeroPaddingBytes > 0) out.push({ severity: 'high', rule: 'nonzero_padding', where, detail: `${scan.nonZeroPaddingBytes} non-zero bytes in alignment padding` });
  return { findings: out, layerGroups: lo.groups, maxLayerZ: lo.maxAbsZ, boundedTensors, maxBoundRatio };
}

export function riskScore(findings: readonly Finding[], w: Record<Severity, number>): number {
  let keep = 1;
  for (const f of findings) keep *= 1 - Math.min(1, Math.max(0, w[f.severity]));
  return Math.round((1 - keep) * 1000) / 1000;
}

function tokenizerTemplates(path: string): Record<string, string> {
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as { chat_template?: unknown };
  const t = cfg.chat_template;
  if (typeof t === 'string') return { chat_template: t };
  if (Array.isArray(t)) {
    const out: Record<string, string> = {};
    t.forEach((x: { name?: unknown; template?: unknown }, i) => { if (typeof x?.template === 'string') out[`chat_template.${typeof x.name === 'string' ? x.name : i}`] = x.template; });
    return out;
  }
  return {};
}

export const staticScanStage: StageRunner<StaticScanOptions> = (artifact, options, progress) =>
  guarded('static_scan', async (started): Promise<StageResult> => {
    const o = { ...DEFAULT_STATIC_SCAN_OPTIONS, ...options };
    const files = artifact.kind === 'folder'
      ? walkFolder(artifact.path).entries.filter((e) => e.type === 'file').map((e) => ({ abs: e.abs, rel: e.rel }))
      : [{ abs: artifact.path, rel: artifact.name }];
    const findings: Finding[] = [];
    const perFile: Record<string, unknown>[] = [];
    let tensorCount = 0, sampledTensors = 0, layerGroups = 0, maxLayerZ = 0, entropyMax = 0, boundedTensors = 0, maxBoundRatio = 0;
    let merkleRoot: string | null = null;
    const weightFiles: { abs: string; rel: string; given?: GivenLayout; extra?: TensorStats[] }[] = files.filter((f) => artifact.kind === 'file' || f.rel.endsWith('.safetensors') || f.rel.endsWith('.onnx'));
    const scanOptions = { sampleCap: o.sampleCap, ...(o.workers !== undefined ? { workers: o.workers } : {}) };
    for (let i = 0; i < weightFiles.length; i++) {
      const f = weightFiles[i]!;
      const scan = await scanFile(f.abs, scanOptions, (p) => progress(Math.floor(((i + p / 100) / weightFiles.length) * 95)), f.given);
      if (!scan.layout) {
        return stageResult('static_scan', started, 'fail', `${f.rel} has no readable tensor layout: ${scan.layoutError?.message ?? 'unknown'}`, { rule: scan.layoutError?.rule ?? 'no_layout', file: f.rel });
      }
      if (scan.layout.format === 'onnx') {
        // The model's external data files are scanned next, each with the layout the model gives it.
        const more = onnxWeightFiles(f.abs, f.rel, artifact.kind === 'folder', o.sampleCap);
        if ('rule' in more) return stageResult('static_scan', started, 'fail', `${f.rel}: ${more.detail}`, { rule: more.rule, file: f.rel, where: more.where });
        f.extra = more.varintFloats;
        weightFiles.splice(i + 1, 0, ...more.files);
      }
      findings.push(...metadataFindings(scan.layout.metadata, scan.layout.templates, f.rel));
      const w = weightFindings(f.extra?.length ? { tensors: [...scan.tensors, ...f.extra], nonZeroPaddingBytes: scan.nonZeroPaddingBytes } : scan, o, f.rel);
      findings.push(...w.findings);
      tensorCount += scan.tensors.length + (f.extra?.length ?? 0);
      sampledTensors += scan.tensors.filter((t) => t.sampledFraction < 1).length;
      layerGroups += w.layerGroups;
      maxLayerZ = Math.max(maxLayerZ, w.maxLayerZ);
      boundedTensors += w.boundedTensors;
      maxBoundRatio = Math.max(maxBoundRatio, w.maxBoundRatio);
      for (const t of scan.tensors) if (t.entropyBytes >= o.minEntropyBytes) entropyMax = Math.max(entropyMax, t.byteEntropy);
      perFile.push({ file: f.rel, sha256: scan.sha256, merkleRoot: scan.merkleRoot, tensorCount: scan.tensors.length, byteEntropy: round(scan.byteEntropy), workers: scan.workers, passes: scan.passes });
      merkleRoot = scan.merkleRoot;
      if (artifact.kind === 'file' && scan.tensors.length <= 256) perFile[perFile.length - 1]!.tensorManifest = scan.tensors.map((t) => ({ name: t.name, sha256: t.sha256 }));
    }
    if (artifact.kind === 'folder') {
      for (const f of files.filter((x) => /(^|\/)tokenizer_config\.json$/.test(x.rel))) {
        findings.push(...metadataFindings({}, tokenizerTemplates(f.abs), f.rel));
      }
      // A folder's root binds each weight file's Merkle root in path order.
      merkleRoot = merkleOf(perFile.map((p) => ({ name: String(p.file), sha256: String(p.merkleRoot) })));
    }
    progress(100);
    const score = riskScore(findings, o.severityWeights);
    const verdict = score >= o.failScore ? 'fail' : score >= o.warnScore ? 'warn' : 'pass';
    const worst = [...findings].sort((a, b) => o.severityWeights[b.severity] - o.severityWeights[a.severity])[0];
    const reason = verdict === 'pass'
      ? `no significant findings in ${tensorCount} tensors (risk ${score})`
      : `risk ${score}: ${worst!.rule} at ${worst!.where} (${worst!.detail})${findings.length > 1 ? ` and ${findings.length - 1} more finding(s)` : ''}`;
    return stageResult('static_scan', started, verdict, reason, {
      score, thresholds: { warn: o.warnScore, fail: o.failScore }, merkleRoot, tensorCount,
      sampled: sampledTensors > 0, sampledTensors, sampleCap: o.sampleCap,
      findings: findings.slice(0, 100), findingCount: findings.length,
      layerGroups, maxLayerZ: round(maxLayerZ), boundedTensors, maxBoundRatio: round(maxBoundRatio), maxTensorEntropy: round(entropyMax), files: perFile,
    });
  });

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * An ONNX model's external data files, each to be scanned with the layout the model declares for it (checked again here: a
 * stage never trusts that an earlier one ran), and its float16 values held as varints, decoded and measured.
 */
function onnxWeightFiles(abs: string, rel: string, inFolder: boolean, sampleCap: number): { files: { abs: string; rel: string; given: GivenLayout }[]; varintFloats: TensorStats[] } | { rule: string; where: string; detail: string } {
  const m = parseOnnxFile(abs, ONNX_LAYOUT_LIMITS);
  const external = m.tensors.some((t) => t.data.kind === 'external');
  if (external && !inFolder) return { rule: 'external_data_single_file', where: 'model', detail: 'a single-file import cannot carry external data' };
  const x = checkExternalData(abs, m, true);
  if (x.problems.length) return x.problems[0]!;
  const st = statSync(abs);
  const key = `onnx:${abs}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : '';
  return {
    files: x.files.map((f) => ({ abs: f.abs, rel: `${dir}${f.location}`, given: { key, layout: onnxExternalLayout(f) } })),
    varintFloats: onnxVarintFloatStats(abs, m, sampleCap),
  };
}
