// The effects a quarantine job machine invokes: the download, its cancel, the seven stage runners and the promotion.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fromCallback, fromPromise } from 'xstate';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { BusClient } from '../../bus/client.js';
import { serveOp } from '../../bus/op-ref.js';
import { airlockManifest, registryManifest } from '../../runtime/catalog.js';
import {
  jobMachine, type DownloadTicket, type JobContext, type JobEvent, type PipelineArtifact, type StageInput, type StageName, type StageResult,
} from '../../machines/quarantine/quarantine.machine.js';
import { receiveDownload } from './download.js';
import { ingest, modelName } from './ingest.js';
import type { QuarantinePolicy } from './policy.js';
import { dirs, sha256Of } from './reports.js';
import { behavioralStage, type BehavioralOptions } from './stages/behavioral.js';
import { diffusionStage } from './stages/diffusion.js';
import { formatStage } from './stages/format.js';
import { integrityStage } from './stages/integrity.js';
import { provenanceStage } from './stages/provenance.js';
import { sourceStage } from './stages/source.js';
import { staticScanStage } from './stages/static-scan.js';
import type { Artifact, Progress, StageRunner } from './stages/types.js';
import type { HomePaths } from '../../common/paths.js';

/** What the effects need from the actor: its bus, paths, event publisher and the policy in force. */
export interface EffectDeps {
  bus: BusClient;
  paths: HomePaths;
  configDir: string;
  /** Publishes an event; one that cannot be published is logged and counted, never thrown into the job. */
  emitOrLog(event: string, payload: unknown): Promise<boolean>;
  policy(): QuarantinePolicy;
  /** Stage 6 settings (policy.yaml `inference.behavioral`) in force. */
  behavioral(): BehavioralOptions;
}

function announce(d: EffectDeps, event: string, payload: Record<string, unknown>): void {
  void d.emitOrLog(event, payload);
}

function stageEmitter(d: EffectDeps, id: string, stage: StageName): Progress {
  let last = -100;
  return (percent, note) => {
    const p = Math.max(0, Math.min(100, Math.floor(percent)));
    if (p < last + 10 && p !== 100) return;
    if (p === 100 && last === 100) return;
    last = p;
    announce(d, 'stage', { id, stage, percent: p, note: note ?? '' });
  };
}

function runner<O>(d: EffectDeps, stage: StageName, run: StageRunner<O>, options: () => O) {
  return fromPromise<StageResult, StageInput>(({ input }) => {
    announce(d, 'stage', { id: input.id, stage, percent: 0, note: 'started' });
    return run(input.artifact as Artifact, options(), stageEmitter(d, input.id, stage));
  });
}

async function promote(d: EffectDeps, input: StageInput): Promise<Record<string, unknown>> {
  const sha256 = sha256Of(input.results);
  if (!sha256) throw new SecaiError(ErrorCode.INTERNAL, 'no SHA-256 from the integrity stage');
  const fmt = input.results.find((r) => r.stage === 'format')?.evidence;
  const merkle = input.results.find((r) => r.stage === 'static_scan')?.evidence['merkleRoot'];
  announce(d, 'stage', { id: input.id, stage: 'promote', percent: 0, note: 'copying into the registry' });
  return d.bus.call(serveOp(registryManifest, 'promote'), {
    jobId: input.id, name: modelName(input.artifact.name), path: input.artifact.path, kind: input.artifact.kind, sha256,
    format: input.artifact.kind === 'folder' ? 'diffusers' : String(fmt?.['detected'] ?? 'unknown').slice(0, 64),
    merkleRoot: typeof merkle === 'string' ? merkle : null,
    stages: input.results.map((r) => ({ stage: r.stage, verdict: r.verdict, reason: r.reason.slice(0, 4096) })),
  }, 600_000);
}

/** Download progress marks: every 10 % of a declared length, or every 64 MiB without one; true when a mark was passed. */
function progressMarks(length: number | undefined): (bytes: number) => number | null {
  let next = 0;
  return (bytes) => {
    const percent = length ? Math.min(99, Math.floor((100 * bytes) / length)) : 0;
    const mark = length ? percent : Math.floor(bytes / (64 << 20));
    if (mark < next) return null;
    next = mark + (length ? 10 : 1);
    return percent;
  };
}

/**
 * The download as a callback actor: pulls the airlock's bytes into work/, takes the verified file in as the job's
 * artifact, and tells the job machine how it went (progress at each mark, then downloaded or failed).
 */
function download(d: EffectDeps) {
  return fromCallback<{ type: string }, { id: string; download: DownloadTicket; origin: PipelineArtifact['origin'] }>(({ input, sendBack }) => {
    const started = Date.now();
    const mark = progressMarks(input.download.length);
    const length = input.download.length;
    let received = 0;
    let stopped = false;
    void (async () => {
      let path: string | undefined;
      try {
        path = await receiveDownload({ bus: d.bus, workDir: dirs(d).work }, input.download, (bytes) => {
          received = bytes;
          const percent = mark(bytes);
          if (percent === null) return;
          announce(d, 'stage', { id: input.id, stage: 'source', percent, note: `downloading: ${bytes} bytes received${length ? ` of ${length}` : ''}` });
          if (!stopped) sendBack({ type: 'job.progress', bytes });
        });
        const p = d.policy();
        const { artifact } = await ingest(path, input.origin, { workDir: dirs(d).work, maxFileBytes: p.maxFileBytes, maxFolderBytes: p.maxFolderBytes, move: true, owned: true }, input.id);
        if (!stopped) sendBack({ type: 'job.downloaded', artifact });
      } catch (err) {
        const code = (err as SecaiError).code ?? ErrorCode.INTERNAL;
        if (!stopped) sendBack({ type: 'job.download_failed', message: (err as Error).message, code, bytes: received, durationMs: Date.now() - started });
      } finally {
        if (path) rmSync(join(path, '..'), { recursive: true, force: true });
      }
    })();
    return () => { stopped = true; };
  });
}

/** The job machine with this actor's effects. */
export function providedJobMachine(d: EffectDeps) {
  const policy = d.policy;
  return jobMachine.provide({
    actors: {
      sourceStage: runner(d, 'source', sourceStage, () => policy().source),
      formatStage: runner(d, 'format', formatStage, () => policy().format),
      integrityStage: runner(d, 'integrity', integrityStage, () => policy().integrity),
      provenanceStage: runner(d, 'provenance', provenanceStage, () => policy().provenance),
      staticScanStage: runner(d, 'static_scan', staticScanStage, () => policy().staticScan),
      // Stage 6: the candidate runs in the llm worker sandbox at temperature 0 against the adversarial suite.
      behavioralStage: runner(d, 'behavioral', behavioralStage, () => d.behavioral()),
      diffusionStage: runner(d, 'diffusion', diffusionStage, () => policy().diffusion),
      promote: fromPromise<Record<string, unknown>, StageInput>(({ input }) => promote(d, input)),
      download: download(d),
      // Cancelling aborts the airlock's download: the pull waiting on it fails, and the job ends cancelled.
      cancelDownload: fromPromise<void, { id: string; download: DownloadTicket }>(async ({ input }) => {
        await d.bus.call(serveOp(airlockManifest, 'download_cancel'), { id: input.download.id }, 5000);
      }),
    },
    actions: {
      stageRecorded: ({ context }, p) => {
        const { result } = p as { result: StageResult };
        announce(d, 'stage', { id: (context as JobContext).job.id, stage: result.stage, verdict: result.verdict, percent: 100, note: result.reason.slice(0, 1024) });
      },
    },
  });
}
