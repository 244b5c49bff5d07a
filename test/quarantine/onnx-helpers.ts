// ONNX test helpers: small honest models from the writer, raw protobuf pieces for what it cannot say, and the stages run on a path.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createActor, fromPromise, toPromise } from 'xstate';
import { projectRoot } from '../../common/paths.js';
import { loadQuarantineFiles, quarantinePolicy } from '../../actors/quarantine/policy.js';
import { DEFAULT_DIFFUSION_OPTIONS, diffusionStage, type DiffusionOptions } from '../../actors/quarantine/stages/diffusion.js';
import { DEFAULT_FORMAT_OPTIONS, formatStage, type FormatOptions } from '../../actors/quarantine/stages/format.js';
import { integrityStage } from '../../actors/quarantine/stages/integrity.js';
import { provenanceStage } from '../../actors/quarantine/stages/provenance.js';
import { sourceStage } from '../../actors/quarantine/stages/source.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, staticScanStage } from '../../actors/quarantine/stages/static-scan.js';
import type { Artifact, StageRunner } from '../../actors/quarantine/stages/types.js';
import { pipelineMachine, type PipelineOutput, type StageInput, type StageResult } from '../../machines/quarantine/quarantine.machine.js';
import { sectionsOf } from '../../policy/sections.js';
import { parsePolicy } from '../../policy/snapshot.js';
import { concatBytes, encodeOnnx, floatTensor, int64Tensor, pbBytes, pbInt, randomNormal, type OnnxModel, type OnnxNode, type OnnxTensor } from '../fixtures/onnx-writer.js';
import { artifact } from './helpers.js';

/** The shipped quarantine settings, as the actor builds them from policy.yaml and its two files. */
export function shippedQuarantinePolicy() {
  const dir = join(projectRoot, 'policy');
  const q = sectionsOf(parsePolicy(readFileSync(join(dir, 'policy.yaml'), 'utf8'), 'policy.yaml', '/h').value).quarantine;
  return quarantinePolicy(q.value, loadQuarantineFiles(dir), q.digest);
}

/** One linear layer y = x·W + b: 64×64 weights of a plausible scale, a bias, an int64 shape constant. */
export function linearModel(o: { weights?: Float32Array; extra?: Partial<OnnxModel>; nodes?: OnnxNode[]; initializers?: OnnxTensor[] } = {}): OnnxModel {
  return {
    graph: {
      name: 'linear',
      nodes: o.nodes ?? [
        { op: 'MatMul', inputs: ['x', 'fc1.weight'], outputs: ['h'], name: '/fc1/MatMul' },
        { op: 'Add', inputs: ['h', 'fc1.bias'], outputs: ['y'], name: '/fc1/Add' },
      ],
      initializers: o.initializers ?? [
        floatTensor('fc1.weight', [64, 64], o.weights ?? randomNormal(64 * 64, 0.05, 7)),
        floatTensor('fc1.bias', [64], randomNormal(64, 0.02, 8)),
        int64Tensor('shape', [2], [1, 64]),
      ],
      inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 64] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 64] }],
    },
    ...o.extra,
  };
}

export const linearOnnx = (o: Parameters<typeof linearModel>[0] = {}): Uint8Array => encodeOnnx(linearModel(o));

// Raw protobuf pieces (onnx.proto field numbers) for the shapes the writer has no words for.
export const rawOpset = (domain: string, version: number): Uint8Array => concatBytes([pbBytes(1, domain), pbInt(2, version)]);
export const rawNode = (op: string, inputs: string[], outputs: string[], extra: Uint8Array[] = []): Uint8Array =>
  concatBytes([...inputs.map((i) => pbBytes(1, i)), ...outputs.map((x) => pbBytes(2, x)), pbBytes(3, `/${op}`), pbBytes(4, op), ...extra]);
/** AttributeProto of type GRAPH (5) holding `graph`. */
export const rawGraphAttr = (name: string, graph: Uint8Array): Uint8Array => concatBytes([pbBytes(1, name), pbBytes(6, graph), pbInt(20, 5)]);
export const rawGraph = (name: string, nodes: Uint8Array[], rest: Uint8Array[] = []): Uint8Array =>
  concatBytes([...nodes.map((n) => pbBytes(1, n)), pbBytes(2, name), ...rest]);
export const rawModel = (graph: Uint8Array, o: { ir?: number; opsets?: Uint8Array[]; rest?: Uint8Array[] } = {}): Uint8Array =>
  concatBytes([pbInt(1, o.ir ?? 8), pbBytes(2, 'secai-test'), pbBytes(7, graph), ...(o.opsets ?? [rawOpset('', 17)]).map((x) => pbBytes(8, x)), ...(o.rest ?? [])]);
/** A TensorProto from its parts: dims, data type, name and whatever data fields are given. */
export const rawTensor = (name: string, dataType: number, dims: number[], data: Uint8Array[]): Uint8Array =>
  concatBytes([...dims.map((d) => pbInt(1, d)), pbInt(2, dataType), pbBytes(8, name), ...data]);

/** `depth` If nodes, each holding the next in its then_branch; the innermost body is one Identity. */
export function nestedIf(depth: number, innermost: Uint8Array = rawNode('Identity', ['x'], ['y'])): Uint8Array {
  let graph = rawGraph('body', [innermost]);
  for (let d = 0; d < depth; d++) graph = rawGraph(d === depth - 1 ? 'main' : `level${depth - d}`, [rawNode('If', ['cond'], ['y'], [pbBytes(5, rawGraphAttr('then_branch', graph))])]);
  return rawModel(graph);
}

const folderArtifact = (p: string): Artifact => ({ path: p, kind: 'folder', name: basename(p), origin: { type: 'local' }, size: 1 });

export const runFormat = (p: string, kind: Artifact['kind'] = 'file', o: FormatOptions = DEFAULT_FORMAT_OPTIONS) =>
  formatStage(kind === 'folder' ? folderArtifact(p) : artifact(p), o, () => {});
export const runStatic = (p: string, kind: Artifact['kind'] = 'file') =>
  staticScanStage(kind === 'folder' ? folderArtifact(p) : artifact(p), DEFAULT_STATIC_SCAN_OPTIONS, () => {});
export const runDiffusion = (p: string, o: DiffusionOptions = DEFAULT_DIFFUSION_OPTIONS) => diffusionStage(folderArtifact(p), o, () => {});

/** The rule names of a stage result: its own `rule` and those of its `problems`. */
export function rulesOf(r: StageResult): string[] {
  const own = typeof r.evidence.rule === 'string' ? [r.evidence.rule] : [];
  const problems = Array.isArray(r.evidence.problems) ? (r.evidence.problems as { rule: string }[]).map((p) => p.rule) : [];
  return [...own, ...problems];
}

/** The whole pipeline machine with the real runners (as test/quarantine/pipeline-real-stages.test.ts), stage 6 unable to run. */
export async function runPipeline(a: Artifact): Promise<PipelineOutput> {
  const wrap = <O>(r: StageRunner<O>, opts: O) => fromPromise<StageResult, StageInput>(({ input }) => r(input.artifact as Artifact, opts, () => {}));
  const policy = shippedQuarantinePolicy();
  const m = pipelineMachine.provide({
    actors: {
      sourceStage: wrap(sourceStage, policy.source),
      formatStage: wrap(formatStage, policy.format),
      integrityStage: wrap(integrityStage, policy.integrity),
      provenanceStage: wrap(provenanceStage, policy.provenance),
      staticScanStage: wrap(staticScanStage, policy.staticScan),
      behavioralStage: fromPromise<StageResult, StageInput>(async () => { throw new Error('not a GGUF v2/v3 file'); }),
      diffusionStage: wrap(diffusionStage, policy.diffusion),
      promote: fromPromise<Record<string, unknown>, StageInput>(async () => ({ ok: true })),
    },
  });
  return toPromise(createActor(m, { input: { id: 'j', artifact: a, policy: policy.pipeline, behavioralAvailable: false } }).start());
}

export { folderArtifact };
