// One streaming pass over a model file: the file SHA-256, every tensor's SHA-256 and weight statistics, padding checks.
// Integrity (stage 3) and static scan (stage 5) share it: the result is cached per path+size+mtime+inode.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { projectRoot } from '../../../common/paths.js';
import { detectFile } from './format-detect.js';
import { parseGgufFile } from './gguf-parser.js';
import { merkleRoot } from './merkle.js';
import { parseOnnxFile } from './onnx-parser.js';
import { ONNX_LAYOUT_LIMITS, onnxInlineLayout } from './onnx-weights.js';
import { ParseError } from './parse-error.js';
import { parseSafetensorsFile } from './safetensors-parser.js';
import type { FromWorker, ToWorker } from './scan-worker.js';
import type { ModelLayout, TensorLayout } from './tensor-layout.js';
import { TensorAnalyzer, type TensorStats } from './weight-stats.js';

export interface ScanOptions {
  /** Elements measured per tensor before deterministic block sampling starts. */
  sampleCap: number;
  /** Worker threads for the tensor analysis; 0 analyses in the reading thread. Default: by file size and CPUs. */
  workers?: number;
  chunkBytes: number;
}

export const DEFAULT_SCAN_OPTIONS: ScanOptions = Object.freeze({ sampleCap: 1 << 18, chunkBytes: 4 << 20 });

export interface FileScan {
  path: string;
  size: number;
  sha256: string;
  layout: ModelLayout | null;
  /** Why the file has no tensor layout (not a model container, or a malformed one). */
  layoutError: { rule: string; message: string } | null;
  tensors: TensorStats[];
  merkleRoot: string | null;
  /** Non-zero bytes found in alignment padding between or after tensors. */
  nonZeroPaddingBytes: number;
  /** Byte entropy over all measured tensor bytes. */
  byteEntropy: number;
  workers: number;
  passes: 1;
  durationMs: number;
}

export type ScanProgress = (percent: number) => void;

const cache = new Map<string, Promise<FileScan>>();
const CACHE_MAX = 8;

/**
 * A layout the file cannot state itself: an ONNX external data file is described by the model that references it. `key`
 * names that model's version, so the cached scan is per (data file, model).
 */
export interface GivenLayout { key: string; layout: ModelLayout }

/** The file's scan, computed once per version of the file (same size, mtime and inode) and shared by stages 3 and 5. */
export async function scanFile(path: string, options: Partial<ScanOptions> = {}, progress: ScanProgress = () => {}, given?: GivenLayout): Promise<FileScan> {
  const st = await stat(path);
  if (!st.isFile()) throw new Error(`${path} is not a regular file`);
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}${given ? `\0${given.key}` : ''}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const p = runScan(path, st.size, { ...DEFAULT_SCAN_OPTIONS, ...options }, progress, given);
  cache.set(key, p);
  p.catch(() => cache.delete(key));
  while (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!);
  return p;
}

/** Drops cached scans of `path` (after the actor deletes or replaces it). */
export function forgetScan(path: string): void {
  for (const k of cache.keys()) if (k.startsWith(`${path}\0`)) cache.delete(k);
}

function layoutOf(path: string, size: number): { layout: ModelLayout | null; error: FileScan['layoutError'] } {
  try {
    const kind = detectFile(path).kind;
    if (kind === 'gguf') return { layout: parseGgufFile(path), error: null };
    if (kind === 'safetensors') return { layout: parseSafetensorsFile(path), error: null };
    if (kind === 'onnx') return { layout: onnxInlineLayout(parseOnnxFile(path, ONNX_LAYOUT_LIMITS), size), error: null };
    return { layout: null, error: { rule: 'not_a_model_container', message: `content is ${kind}` } };
  } catch (e) {
    if (e instanceof ParseError) return { layout: null, error: { rule: e.rule, message: e.message } };
    throw e;
  }
}

interface Sink {
  /** Feeds a chunk held in slot `slot`; resolves when the slot may be reused. */
  chunk(slot: number, base: number, segs: [number, number, number][], view: Uint8Array): Promise<void> | void;
  finish(): Promise<TensorStats[]>;
}

function inlineSink(tensors: TensorLayout[], o: ScanOptions): Sink {
  const an = tensors.map((t) => new TensorAnalyzer(t, o));
  return {
    chunk(_slot, base, segs, view) {
      for (const [t, s, e] of segs) an[t]!.feed(view.subarray(s - base, e - base));
    },
    finish: async () => an.map((a) => a.finish()),
  };
}

function workerSink(tensors: TensorLayout[], o: ScanOptions, n: number, sab: SharedArrayBuffer, slotSize: number): Sink & { owner: number[] } {
  // Longest-first assignment balances bytes across workers; each tensor stays with one worker so its bytes arrive in order.
  const load = new Array<number>(n).fill(0);
  const owner = new Array<number>(tensors.length).fill(0);
  const order = tensors.map((t, i) => i).sort((a, b) => tensors[b]!.byteLength - tensors[a]!.byteLength);
  for (const i of order) {
    let w = 0;
    for (let k = 1; k < n; k++) if (load[k]! < load[w]!) w = k;
    owner[i] = w;
    load[w]! += tensors[i]!.byteLength;
  }
  // From sources (tests, benchmarks) a small .mjs boot registers the tsx loader inside the worker thread first.
  const url = import.meta.url.endsWith('.ts')
    ? new URL('./scan-worker-dev.mjs', import.meta.url)
    : pathToFileURL(join(projectRoot, 'dist', 'actors', 'quarantine', 'scan', 'scan-worker.js'));
  const pending = new Map<string, () => void>();
  const finals: ((s: TensorStats[]) => void)[] = [];
  const fails: ((e: Error) => void)[] = [];
  let failure: Error | null = null;
  const workers = Array.from({ length: n }, (_, w) => {
    const mine = tensors.map((t, i) => [i, t] as [number, TensorLayout]).filter(([i]) => owner[i] === w);
    const worker = new Worker(url, { workerData: { sab, slotSize, tensors: mine, options: o } });
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ack') { pending.get(`${w}:${m.slot}`)?.(); pending.delete(`${w}:${m.slot}`); }
      else if (m.type === 'stats') finals[w]?.(m.stats);
      else {
        failure = new Error(`scan worker failed: ${m.message}`);
        for (const r of pending.values()) r();
        for (const f of fails) f(failure);
      }
    });
    worker.on('error', (e) => { failure = e; for (const r of pending.values()) r(); for (const f of fails) f(e); });
    return worker;
  });
  return {
    owner,
    async chunk(slot, base, segs) {
      const by = new Map<number, [number, number, number][]>();
      for (const s of segs) {
        const w = owner[s[0]]!;
        let list = by.get(w);
        if (!list) by.set(w, (list = []));
        list.push(s);
      }
      await Promise.all([...by].map(([w, list]) => new Promise<void>((resolve) => {
        pending.set(`${w}:${slot}`, resolve);
        workers[w]!.postMessage({ type: 'chunk', slot, base, segs: list } satisfies ToWorker);
      })));
      if (failure) throw failure;
    },
    async finish() {
      try {
        if (failure) throw failure;
        const parts = await Promise.all(workers.map((wk, w) => new Promise<TensorStats[]>((resolve, reject) => {
          finals[w] = resolve;
          fails.push(reject);
          wk.postMessage({ type: 'finish' } satisfies ToWorker);
        })));
        if (failure) throw failure;
        const byName = new Map(parts.flat().map((s) => [s.name, s]));
        return tensors.map((t) => byName.get(t.name)!);
      } finally {
        await Promise.all(workers.map((w) => w.terminate()));
      }
    },
  };
}

async function runScan(path: string, size: number, o: ScanOptions, progress: ScanProgress, given?: GivenLayout): Promise<FileScan> {
  const started = performance.now();
  const { layout, error } = given ? { layout: given.layout, error: null } : layoutOf(path, size);
  const tensors = layout?.tensors ?? [];
  // Workers pay only with spare cores: on fewer than 4 CPUs the inline path measured faster (no hand-off, no contention).
  const cpus = availableParallelism();
  const nWorkers = o.workers ?? (size < 64 << 20 || tensors.length === 0 || cpus < 4 ? 0 : Math.min(4, cpus - 1));
  const slots = nWorkers ? 8 : 1;
  const slotSize = o.chunkBytes;
  const sab = new SharedArrayBuffer(slots * slotSize);
  const sink = nWorkers ? workerSink(tensors, o, nWorkers, sab, slotSize) : inlineSink(tensors, o);
  const fileHash = createHash('sha256');
  const fh = await open(path, 'r');
  let nonZeroPadding = 0;
  try {
    const free: number[] = Array.from({ length: slots }, (_, i) => i);
    const waiting: (() => void)[] = [];
    const inflight = new Set<Promise<void>>();
    let ti = 0; // first tensor that may intersect the current chunk
    let lastPct = -1;
    for (let pos = 0; pos < size; ) {
      while (free.length === 0) await new Promise<void>((r) => waiting.push(r));
      const slot = free.pop()!;
      const view = new Uint8Array(sab, slot * slotSize, Math.min(slotSize, size - pos));
      let got = 0;
      while (got < view.length) {
        const { bytesRead } = await fh.read(view, got, view.length - got, pos + got);
        if (bytesRead === 0) throw new Error('file shrank while being scanned');
        got += bytesRead;
      }
      fileHash.update(view);
      const base = pos, end = pos + view.length;
      // padding: bytes in [dataStart, dataEnd) that belong to no tensor must be zero
      if (layout) {
        let cursor = Math.max(base, layout.dataStart);
        const segs: [number, number, number][] = [];
        for (let k = ti; k < tensors.length && tensors[k]!.offset < end; k++) {
          const t = tensors[k]!;
          const s = Math.max(base, t.offset), e = Math.min(end, t.offset + t.byteLength);
          if (s > cursor) nonZeroPadding += countNonZero(view, cursor - base, s - base);
          if (e > s) segs.push([k, s, e]);
          if (e > cursor) cursor = e;
          if (t.offset + t.byteLength <= end && k === ti) ti++;
        }
        if (cursor < end && cursor >= layout.dataStart) nonZeroPadding += countNonZero(view, cursor - base, end - base);
        const done = sink.chunk(slot, base, segs, view);
        if (done instanceof Promise) {
          const p = done.then(() => { inflight.delete(p); free.push(slot); waiting.shift()?.(); });
          inflight.add(p);
        } else free.push(slot);
      } else free.push(slot);
      pos = end;
      const pct = Math.floor((pos / size) * 100);
      if (pct !== lastPct) { lastPct = pct; progress(pct); }
    }
    await Promise.all(inflight);
  } catch (e) {
    await sink.finish().catch(() => {}); // lint-ok: the scan's own error is rethrown below; the sink's adds nothing
    throw e;
  } finally {
    await fh.close();
  }
  const stats = await sink.finish();
  // File-level entropy: the per-tensor entropies weighted by measured bytes.
  let total = 0, weighted = 0;
  for (const s of stats) { weighted += s.byteEntropy * s.entropyBytes; total += s.entropyBytes; }
  return {
    path,
    size,
    sha256: fileHash.digest('hex'),
    layout,
    layoutError: error,
    tensors: stats,
    merkleRoot: layout ? merkleRoot(stats.map((s) => ({ name: s.name, sha256: s.sha256 }))) : null,
    nonZeroPaddingBytes: nonZeroPadding,
    byteEntropy: total ? weighted / total : 0,
    workers: nWorkers,
    passes: 1,
    durationMs: Math.round(performance.now() - started),
  };
}

function countNonZero(b: Uint8Array, s: number, e: number): number {
  let n = 0;
  for (let i = s; i < e; i++) if (b[i] !== 0) n++;
  return n;
}

