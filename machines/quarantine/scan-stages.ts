// The seven scan stages as states (one per stage, fail closed), shared by the job machine and the stand-alone scan machine.
import { assign, fromPromise, setup } from 'xstate';
import { notProvided } from '../not-provided.js';

/** The stage contract's data types; actors/quarantine/stages/types.ts re-exports them for the stage runners. */
export type StageName = 'source' | 'format' | 'integrity' | 'provenance' | 'static_scan' | 'behavioral' | 'diffusion';
export type Verdict = 'pass' | 'warn' | 'fail' | 'error';
export interface StageResult {
  stage: StageName;
  verdict: Verdict;
  reason: string;
  evidence: Record<string, unknown>;
  durationMs: number;
}

/** A catalog entry's pin, as a catalog import carries it: the entry's id, its SHA-256 and the catalog version (file digest). */
export interface CatalogPin {
  id: string;
  sha256: string;
  catalogDigest: string;
}

export interface PipelineArtifact {
  path: string;
  kind: 'file' | 'folder';
  name: string;
  /**
   * `upload`: sent from the browser through the gateway (like a local drop, no provenance). A URL import
   * started from the signed catalog carries the entry's pin (`catalog`): stage 3 holds the file to it.
   */
  origin: { type: 'local' } | { type: 'upload' } | { type: 'url'; url: string; catalog?: CatalogPin };
  size: number;
}

export interface PipelinePolicy {
  /** Stages whose `warn` verdict still allows promotion; a warn elsewhere rejects. */
  allowWarn: readonly StageName[];
  /** quarantine.stages.behavioral_test. */
  behavioral: 'required' | 'optional' | 'off';
}

export interface PipelineJob {
  id: string;
  artifact: PipelineArtifact;
  policy: PipelinePolicy;
  /** Whether a stage-6 runner exists in this build (the inference actor's behavioral suite). */
  behavioralAvailable: boolean;
}

export type Outcome = 'promoted' | 'rejected' | 'held';

export interface PipelineOutput {
  id: string;
  outcome: Outcome;
  reason: string;
  results: StageResult[];
  /** What the registry recorded (promoted only). */
  entry: Record<string, unknown> | null;
}

export interface PipelineContext {
  job: PipelineJob;
  results: StageResult[];
  outcome: Outcome | null;
  reason: string;
  entry: Record<string, unknown> | null;
}

export const PIPELINE_ORDER: readonly StageName[] = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion'];

export interface StageInput {
  id: string;
  artifact: PipelineArtifact;
  /** Results so far (provenance needs the digest; promotion needs all). */
  results: readonly StageResult[];
}

const stageActor = (name: string) => fromPromise<StageResult, StageInput>(notProvided(name));

/** A verdict that lets the pipeline go on under this policy. */
export function acceptable(r: StageResult, policy: PipelinePolicy): boolean {
  return r.verdict === 'pass' || (r.verdict === 'warn' && policy.allowWarn.includes(r.stage));
}

const skipped = (stage: StageName, reason: string): StageResult => ({ stage, verdict: 'pass', reason, evidence: { skipped: true }, durationMs: 0 });

/** The stage result in an invoke's done event; anything malformed is an error verdict (fail closed). */
function resultOf(stage: StageName, output: unknown): StageResult {
  const r = output as Partial<StageResult> | null | undefined;
  if (!r || typeof r !== 'object' || r.stage !== stage || !['pass', 'warn', 'fail', 'error'].includes(r.verdict as string)) {
    return { stage, verdict: 'error', reason: `the ${stage} stage returned no valid verdict`, evidence: { output: String(output).slice(0, 200) }, durationMs: 0 };
  }
  return { stage, verdict: r.verdict!, reason: String(r.reason ?? ''), evidence: r.evidence ?? {}, durationMs: r.durationMs ?? 0 };
}

function errorResult(stage: StageName, error: unknown): StageResult {
  const msg = error instanceof Error ? error.message : String(error);
  return { stage, verdict: 'error', reason: `the ${stage} stage failed: ${msg}`, evidence: { error: msg }, durationMs: 0 };
}

const effectName = {
  source: 'sourceStage', format: 'formatStage', integrity: 'integrityStage', provenance: 'provenanceStage',
  static_scan: 'staticScanStage', behavioral: 'behavioralStage', diffusion: 'diffusionStage',
} as const satisfies Record<StageName, string>;

type DoneEvent = { type: string; output?: unknown; error?: unknown };

const rejectWithLast = assign({
  outcome: () => 'rejected' as const,
  reason: ({ context }: { context: PipelineContext }) => {
    const bad = context.results[context.results.length - 1]!;
    return `${bad.stage}: ${bad.verdict}${bad.verdict === 'warn' ? ' (a warning this policy does not allow)' : ''}: ${bad.reason}`;
  },
});

/** The effects a scan needs (stages 1–7 and the registry promotion); the actor provides them. */
export const scanEffects = {
  sourceStage: stageActor('sourceStage'),
  formatStage: stageActor('formatStage'),
  integrityStage: stageActor('integrityStage'),
  provenanceStage: stageActor('provenanceStage'),
  staticScanStage: stageActor('staticScanStage'),
  behavioralStage: stageActor('behavioralStage'),
  diffusionStage: stageActor('diffusionStage'),
  promote: fromPromise<Record<string, unknown>, StageInput>(notProvided('promote')),
};

/** The guards the stage states use; they read only the job's context. */
export const scanGuards = {
  lastAcceptable: ({ context }: { context: PipelineContext }) => {
    const last = context.results[context.results.length - 1];
    return !!last && acceptable(last, context.job.policy);
  },
  isFolder: ({ context }: { context: PipelineContext }) => context.job.artifact.kind === 'folder',
  /** Stage 2 said what the file is: only a GGUF language model can be run by the behavioral test. */
  notGguf: ({ context }: { context: PipelineContext }) => context.results.find((r) => r.stage === 'format')?.evidence['container'] !== 'gguf',
  isFile: ({ context }: { context: PipelineContext }) => context.job.artifact.kind === 'file',
  behavioralOff: ({ context }: { context: PipelineContext }) => context.job.policy.behavioral === 'off',
  behavioralMissingRequired: ({ context }: { context: PipelineContext }) => context.job.policy.behavioral === 'required' && !context.job.behavioralAvailable,
  behavioralMissingOptional: ({ context }: { context: PipelineContext }) => context.job.policy.behavioral === 'optional' && !context.job.behavioralAvailable,
};

function record(stage: StageName, from: 'output' | 'error') {
  const make = (e: DoneEvent) => (from === 'output' ? resultOf(stage, e.output) : errorResult(stage, e.error));
  return [
    assign({ results: ({ context, event }: { context: PipelineContext; event: DoneEvent }) => [...context.results, make(event)] }),
    { type: 'stageRecorded', params: ({ context }: { context: PipelineContext }) => ({ result: context.results[context.results.length - 1]! }) },
  ] as const;
}

function skip(stage: StageName, reason: string, next: string) {
  return {
    target: next,
    actions: [
      assign({ results: ({ context }: { context: PipelineContext }) => [...context.results, skipped(stage, reason)] }),
      { type: 'stageRecorded', params: ({ context }: { context: PipelineContext }) => ({ result: context.results[context.results.length - 1]! }) },
    ],
  };
}

/** Where a scan leaves to: state targets for a rejection, a hold, and a clean pass (promotion). */
export interface ScanExits { rejected: string; held: string; promoting: string }

/**
 * The stage states, one per stage (with transient judging/deciding states between them), starting at `source`.
 * Built by a function (states repeat per stage); typed loosely here, checked by the setup() types of each machine.
 */
export function scanStates(exits: ScanExits): any {
  const stageState = (stage: StageName) => ({
    invoke: {
      id: stage,
      src: effectName[stage],
      input: ({ context }: { context: PipelineContext }): StageInput => ({ id: context.job.id, artifact: context.job.artifact, results: context.results }),
      onDone: { target: 'judging_' + stage, actions: record(stage, 'output') },
      // Fail closed: a stage that throws is an `error` verdict naming the stage, which judging rejects.
      onError: { target: 'judging_' + stage, actions: record(stage, 'error') },
    },
  });
  const judging = (next: string) => ({ always: [{ guard: 'lastAcceptable', target: next }, { target: exits.rejected, actions: rejectWithLast }] });
  return {
    source: stageState('source'),
    judging_source: judging('format'),
    format: stageState('format'),
    judging_format: judging('integrity'),
    integrity: stageState('integrity'),
    judging_integrity: judging('provenance'),
    provenance: stageState('provenance'),
    judging_provenance: judging('static_scan'),
    static_scan: stageState('static_scan'),
    judging_static_scan: judging('deciding_behavioral'),
    // Decided before entering a stage state, so a skipped stage's runner is never started.
    deciding_behavioral: { always: [
      { guard: 'isFolder', ...skip('behavioral', 'not applicable: the behavioral test runs language models (GGUF files) only', 'deciding_diffusion') },
      {
        guard: 'notGguf',
        ...skip('behavioral', 'not applicable: the file is not a GGUF language model (a safetensors file has no chat template and llama.cpp cannot run it); the behavioral test runs GGUF files only', 'deciding_diffusion'),
      },
      { guard: 'behavioralOff', ...skip('behavioral', 'skipped: policy quarantine.stages.behavioral_test is off', 'deciding_diffusion') },
      { guard: 'behavioralMissingOptional', ...skip('behavioral', 'skipped: no behavioral runner in this build and policy makes it optional', 'deciding_diffusion') },
      {
        guard: 'behavioralMissingRequired', target: exits.held,
        actions: assign({ outcome: () => 'held' as const, reason: () => 'held: policy requires the behavioral test (stage 6) and no runner is available' }),
      },
      { target: 'behavioral' },
    ] },
    behavioral: stageState('behavioral'),
    judging_behavioral: judging('deciding_diffusion'),
    deciding_diffusion: { always: [
      { guard: 'isFile', ...skip('diffusion', 'not applicable: a single file is not a diffusers folder', exits.promoting) },
      { target: 'diffusion' },
    ] },
    diffusion: stageState('diffusion'),
    judging_diffusion: judging(exits.promoting),
  };
}

/** The registry promotion after a clean scan: its failure is a rejection, never a promotion. */
export function promotingState(exits: { promoted: string; rejected: string }): any {
  return {
    invoke: {
      id: 'promote',
      src: 'promote',
      input: ({ context }: { context: PipelineContext }): StageInput => ({ id: context.job.id, artifact: context.job.artifact, results: context.results }),
      onDone: {
        target: exits.promoted,
        actions: assign({ outcome: () => 'promoted' as const, reason: () => 'every stage passed; promoted to the registry', entry: ({ event }: { event: DoneEvent }) => (event.output as Record<string, unknown>) ?? null }),
      },
      onError: {
        target: exits.rejected,
        actions: assign({ outcome: () => 'rejected' as const, reason: ({ event }: { event: DoneEvent }) => `promotion failed: ${event.error instanceof Error ? event.error.message : String(event.error)}` }),
      },
    },
  };
}

/** The verdict a finished scan reports. */
export const outputOf = ({ context }: { context: PipelineContext }): PipelineOutput =>
  ({ id: context.job.id, outcome: context.outcome ?? 'rejected', reason: context.reason, results: context.results, entry: context.entry });

/** One scan on its own, from stage 1 to a verdict: for tools and tests that scan without the queue (the job machine nests the same states). */
export const pipelineMachine = setup({
  types: {} as { context: PipelineContext; input: PipelineJob; output: PipelineOutput; events: DoneEvent },
  actors: scanEffects,
  actions: {
    /** Called after every recorded stage: the actor publishes secai.evt.quarantine.stage. */
    stageRecorded: (_, _p: { result: StageResult }) => {},
  },
  guards: scanGuards,
}).createMachine({
  id: 'pipeline',
  initial: 'source',
  context: ({ input }) => ({ job: input, results: [], outcome: null, reason: '', entry: null }),
  states: {
    ...scanStates({ rejected: 'rejected', held: 'held', promoting: 'promoting' }),
    promoting: promotingState({ promoted: 'promoted', rejected: 'rejected' }),
    promoted: { type: 'final' },
    rejected: { type: 'final' },
    held: { type: 'final' },
  },
  output: outputOf,
});
