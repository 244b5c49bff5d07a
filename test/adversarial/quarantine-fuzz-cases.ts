// Property-based fuzzing of the quarantine parsers and stages: random and mutated containers always yield a verdict.
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectFile } from '../../actors/quarantine/scan/format-detect.js';
import { parseGgufFile } from '../../actors/quarantine/scan/gguf-parser.js';
import { ParseError } from '../../actors/quarantine/scan/parse-error.js';
import { scanPickle } from '../../actors/quarantine/scan/pickle-scan.js';
import { parseSafetensorsFile } from '../../actors/quarantine/scan/safetensors-parser.js';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../../actors/quarantine/stages/format.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, staticScanStage } from '../../actors/quarantine/stages/static-scan.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { encodePickle } from '../fixtures/pickle-writer.js';
import { encodeSafetensors, floatTensor } from '../fixtures/safetensors-writer.js';
import { gaussian } from '../fixtures/ggml-quantize.js';
import { artifact } from '../quarantine/helpers.js';

const GGUF = encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 16, quant: 'Q4_K' }));
const ST = encodeSafetensors({ tensors: [floatTensor('a', 'F16', [8, 8], gaussian(64, 0.02, 1)), floatTensor('b', 'F32', [4], gaussian(4, 0.02, 2))], metadata: { k: 'v' } });
const PKL = encodePickle([{ module: 'os', name: 'system', args: ['id'] }], 4);

/** A valid file with a few bytes overwritten, mostly in the header where the counts, lengths and offsets live. */
const mutated = (base: Buffer, headerBytes: number) =>
  fc.array(fc.tuple(fc.nat({ max: headerBytes - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 })
    .chain((edits) => fc.option(fc.nat({ max: base.length }), { nil: undefined }).map((cut) => {
      const b = Buffer.from(base);
      for (const [i, v] of edits) b[i] = v;
      return cut === undefined ? b : b.subarray(0, cut);
    }));

const parsersNeverThrowOthers = (dir: string) => (bytes: Uint8Array) => {
  const p = join(dir, 'f.bin');
  writeFileSync(p, bytes);
  for (const parse of [parseGgufFile, parseSafetensorsFile]) {
    try {
      parse(p);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
    }
  }
  detectFile(p);
  scanPickle(bytes);
};

export async function fuzz(dir: string, runs: number): Promise<void> {
  const prop = parsersNeverThrowOthers(dir);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), prop), { numRuns: runs, seed: 1 });
  fc.assert(fc.property(mutated(GGUF, 700), prop), { numRuns: runs, seed: 2 });
  fc.assert(fc.property(mutated(ST, 200), prop), { numRuns: runs, seed: 3 });
  fc.assert(fc.property(mutated(PKL, PKL.length), prop), { numRuns: runs, seed: 4 });
  // Whole stages on mutated GGUF: a verdict every time, never 'error' from a parser defect.
  await fc.assert(fc.asyncProperty(mutated(GGUF, 700), async (bytes) => {
    const p = join(dir, 'm.gguf');
    writeFileSync(p, bytes);
    const f = await formatStage(artifact(p), DEFAULT_FORMAT_OPTIONS, () => {});
    if (f.verdict === 'error') throw new Error(`format error: ${f.reason}`);
    const s = await staticScanStage(artifact(p), DEFAULT_STATIC_SCAN_OPTIONS, () => {});
    if (s.verdict === 'error') throw new Error(`static scan error: ${s.reason}`);
    if (f.verdict === 'fail' && s.verdict === 'pass' && s.evidence.tensorCount === undefined) throw new Error('inconsistent');
  }), { numRuns: Math.max(20, runs >> 2), seed: 5 });
}
