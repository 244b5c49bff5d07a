// The pipeline machine with the real stage runners (no bus): folders, signatures, pins and polyglots end where they should.
import t from 'tap';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createActor, fromPromise, toPromise } from 'xstate';
import { pipelineMachine, type PipelineJob, type PipelineOutput, type StageInput, type StageResult } from '../../machines/quarantine/quarantine.machine.js';
import { DEFAULT_DIFFUSION_OPTIONS, diffusionStage } from '../../actors/quarantine/stages/diffusion.js';
import { DEFAULT_FORMAT_OPTIONS, formatStage } from '../../actors/quarantine/stages/format.js';
import { integrityStage } from '../../actors/quarantine/stages/integrity.js';
import { provenanceStage, type ProvenanceOptions } from '../../actors/quarantine/stages/provenance.js';
import { sourceStage } from '../../actors/quarantine/stages/source.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, staticScanStage } from '../../actors/quarantine/stages/static-scan.js';
import type { Artifact, StageRunner } from '../../actors/quarantine/stages/types.js';
import { encodeZip } from '../fixtures/archive-writers.js';
import { writeDiffusersFolder } from '../fixtures/diffusers-writer.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { encodeSafetensors, floatTensor } from '../fixtures/safetensors-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { tempDir } from './helpers.js';

const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const pem = key.publicKey.export({ type: 'spki', format: 'pem' }).toString();

interface Opts { pins?: Map<string, string>; requirePin?: boolean; provenance?: Partial<ProvenanceOptions>; behavioral?: 'required' | 'optional' | 'off'; behavioralAvailable?: boolean }

async function run(a: Artifact, o: Opts = {}): Promise<PipelineOutput & { promotedWith?: StageInput }> {
  let promotedWith: StageInput | undefined;
  const wrap = <O>(r: StageRunner<O>, opts: O) => fromPromise<StageResult, StageInput>(({ input }) => r(input.artifact as Artifact, opts, () => {}));
  const m = pipelineMachine.provide({
    actors: {
      sourceStage: wrap(sourceStage, { allowlist: { sources: [{ host: 'huggingface.co', subdomains: false }], ip_literals: [] }, local: 'warn' }),
      formatStage: wrap(formatStage, DEFAULT_FORMAT_OPTIONS),
      integrityStage: wrap(integrityStage, { pins: o.pins ?? new Map(), requirePin: o.requirePin ?? false }),
      provenanceStage: wrap(provenanceStage, { trustedKeys: [{ name: 'release', pem }], requireSignature: false, ...o.provenance }),
      staticScanStage: wrap(staticScanStage, DEFAULT_STATIC_SCAN_OPTIONS),
      // As the real runner does for anything but a GGUF model: it cannot load it.
      behavioralStage: fromPromise<StageResult, StageInput>(async () => { throw new Error('not a GGUF v2/v3 file'); }),
      diffusionStage: wrap(diffusionStage, DEFAULT_DIFFUSION_OPTIONS),
      promote: fromPromise<Record<string, unknown>, StageInput>(async ({ input }) => { promotedWith = input; return { ok: true }; }),
    },
  });
  const job: PipelineJob = { id: 'j', artifact: a, policy: { allowWarn: ['source', 'integrity', 'provenance'], behavioral: o.behavioral ?? 'optional' }, behavioralAvailable: o.behavioralAvailable ?? false };
  const out = await toPromise(createActor(m, { input: job }).start());
  return { ...out, ...(promotedWith && { promotedWith }) };
}

const file = (path: string): Artifact => ({ path, kind: 'file', name: basename(path), origin: { type: 'local' }, size: readFileSync(path).length });
const stages = (o: PipelineOutput) => o.results.map((r) => `${r.stage}:${r.verdict}`);

t.test('pipeline with real stages — a signed, pinned GGUF passes every stage cleanly', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'm.gguf');
  writeFileSync(p, encodeGguf(llamaSpec({ quant: 'Q4_0', layers: 2, dims: 64, ff: 128, vocab: 64 })));
  writeFileSync(`${p}.sig`, sign('sha256', readFileSync(p), key.privateKey).toString('base64'));
  const sha = createHash('sha256').update(readFileSync(p)).digest('hex');
  const out = await run(file(p), { pins: new Map([['m.gguf', sha]]), requirePin: true, provenance: { requireSignature: true } });
  t.equal(out.outcome, 'promoted', out.reason);
  t.same(stages(out), ['source:warn', 'format:pass', 'integrity:pass', 'provenance:pass', 'static_scan:pass', 'behavioral:pass', 'diffusion:pass']);
  t.equal(out.promotedWith?.results.find((r) => r.stage === 'integrity')?.evidence.sha256, sha, 'promotion gets the measured SHA-256');
});

t.test('pipeline with real stages — a wrong pin, a missing required signature, a zip polyglot each reject at their stage', async (t) => {
  const dir = tempDir(t);
  const gguf = encodeGguf(llamaSpec({ quant: 'Q8_0', layers: 2, dims: 64, ff: 128, vocab: 64 }));
  const p = join(dir, 'm.gguf');
  writeFileSync(p, gguf);
  const pinned = await run(file(p), { pins: new Map([['m.gguf', 'a'.repeat(64)]]) });
  t.equal(pinned.outcome, 'rejected');
  t.same(stages(pinned).at(-1), 'integrity:fail');
  const unsigned = await run(file(p), { provenance: { requireSignature: true } });
  t.same(stages(unsigned).at(-1), 'provenance:fail');
  const poly = join(dir, 'poly.gguf');
  writeFileSync(poly, Buffer.concat([gguf, encodeZip([{ name: 'data.pkl', data: Buffer.from('x') }])]));
  const pr = await run(file(poly));
  t.equal(pr.outcome, 'rejected');
  t.same(stages(pr).at(-1), 'format:fail', pr.reason);
  const held = await run(file(p), { behavioral: 'required' });
  t.equal(held.outcome, 'held');
});

t.test('pipeline with real stages — a lone safetensors file is promoted under the default policy; stage 6 says why it does not apply', async (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'weights.safetensors');
  const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 0.02);
  writeFileSync(p, encodeSafetensors({ tensors: [floatTensor('model.layers.0.mlp.up_proj.weight', 'F32', [8, 8], values)] }));
  const out = await run(file(p), { behavioral: 'required', behavioralAvailable: true });
  t.equal(out.outcome, 'promoted', out.reason);
  t.match(out.results.find((r) => r.stage === 'format'), { verdict: 'pass', evidence: { container: 'safetensors' } });
  t.match(out.results.find((r) => r.stage === 'behavioral'), { verdict: 'pass', evidence: { skipped: true }, reason: /not applicable: the file is not a GGUF language model/ });
  t.notMatch(out.reason, /GGUF v2\/v3/, 'the file is never blamed for what stage 6 cannot run');
});

t.test('pipeline with real stages — a diffusers folder is promoted; a link inside it is rejected', async (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'sd');
  writeDiffusersFolder(good);
  const folder = (p: string): Artifact => ({ path: p, kind: 'folder', name: basename(p), origin: { type: 'local' }, size: 1 });
  const ok = await run(folder(good), { behavioral: 'required' });
  t.equal(ok.outcome, 'promoted', ok.reason);
  t.match(ok.results.find((r) => r.stage === 'behavioral'), { reason: /not applicable/ });
  t.match(ok.results.find((r) => r.stage === 'diffusion'), { verdict: 'pass' });
  const bad = join(dir, 'sd-link');
  writeDiffusersFolder(bad);
  symlinkSync('/etc/passwd', join(bad, 'unet', 'extra.json'));
  const out = await run(folder(bad));
  t.equal(out.outcome, 'rejected');
  t.match(out.reason, /link|symlink/i);
});
