// Quarantine actor process: the incoming/ watcher and the import command feed one pipeline at a time; verdicts go to the audit chain.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import {
  pipelineMachine, quarantineMachine, type PipelineOutput, type StageInput, type StageName, type StageResult,
} from '../../machines/quarantine/quarantine.machine.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { downloadMaxMs, fileName, openDownload, receiveDownload, removePartialDownloads } from './download.js';
import { ingest, modelName, newJobId, resolveParent } from './ingest.js';
import { quarantineManifest } from './manifest.js';
import { loadQuarantinePolicy, type QuarantinePolicy } from './policy.js';
import { behavioralStage, loadBehavioralPolicy } from './stages/behavioral.js';
import { diffusionStage } from './stages/diffusion.js';
import { formatStage } from './stages/format.js';
import { integrityStage } from './stages/integrity.js';
import { provenanceStage } from './stages/provenance.js';
import { entryLabel, sourceStage } from './stages/source.js';
import { staticScanStage } from './stages/static-scan.js';
import type { Artifact, Progress, StageRunner } from './stages/types.js';
import { IncomingWatcher } from './watcher.js';
import { Uploads } from './upload.js';
import { dropPayload, payloadBytes, planRetention, type RejectedPayload } from './retention.js';
import { importByPath, type PathDecision } from './path-import.js';
import type { CallContext } from '../../bus/service.js';

type State = 'downloading' | 'queued' | 'scanning' | 'promoted' | 'rejected' | 'held';
interface Report {
  id: string;
  name: string;
  kind: 'file' | 'folder';
  origin: Record<string, unknown>;
  size: number;
  state: State;
  reason: string;
  results: StageResult[];
  entry: Record<string, unknown> | null;
  queuedAt: string;
  finishedAt: string | null;
  /** Where the artifact is now: rejected/<id>/, held/<id>/ or the registry. */
  location: string | null;
  /** A rejected artifact whose payload was dropped (retention or the operator): the report stays. */
  purged?: { at: string; bytes: number; by: string };
}

type Ctx = ActorContext<typeof quarantineMachine>;
let policy: QuarantinePolicy;
let watcher: IncomingWatcher | undefined;
let uploads: Uploads | undefined;
let sweeper: NodeJS.Timeout | undefined;
const reports = new Map<string, Report>();
let finishing: Promise<unknown> = Promise.resolve();

const dirs = (ctx: Pick<Ctx, 'paths'>) => ({
  work: ctx.paths.quarantineWork,
  reports: join(ctx.paths.quarantine, 'reports'),
  rejected: join(ctx.paths.quarantine, 'rejected'),
  held: join(ctx.paths.quarantine, 'held'),
});

/** Evidence as it goes onto the bus: bounded per stage (the full evidence stays in report.json). */
function boundedResults(results: readonly StageResult[]): Record<string, unknown>[] {
  return results.map((r) => {
    const json = JSON.stringify(r.evidence);
    if (json.length <= 24 * 1024) return { ...r };
    const keep = Object.fromEntries(Object.entries(r.evidence).filter(([, v]) => JSON.stringify(v ?? null).length <= 2048));
    return { ...r, evidence: { ...keep, truncated: true, note: 'full evidence in the job report (securectl models report <id>)' } };
  });
}

function sha256Of(results: readonly StageResult[]): string | null {
  const v = results.find((r) => r.stage === 'integrity')?.evidence.sha256;
  return typeof v === 'string' ? v : null;
}

function persist(ctx: Pick<Ctx, 'paths'>, r: Report): void {
  writeFileAtomic(join(dirs(ctx).reports, `${r.id}.json`), JSON.stringify(r, null, 2) + '\n', 0o600);
}

function stageEmitter(ctx: Ctx, id: string, stage: StageName): Progress {
  let last = -100;
  return (percent, note) => {
    const p = Math.max(0, Math.min(100, Math.floor(percent)));
    if (p < last + 10 && p !== 100) return;
    if (p === 100 && last === 100) return;
    last = p;
    void ctx.emit('stage', { id, stage, percent: p, note: note ?? '' }).catch(() => {});
  };
}

function runner<O>(ctx: Ctx, stage: StageName, run: StageRunner<O>, options: () => O) {
  return fromPromise<StageResult, StageInput>(({ input }) => {
    const report = reports.get(input.id);
    if (report) report.state = 'scanning';
    void ctx.emit('stage', { id: input.id, stage, percent: 0, note: 'started' }).catch(() => {});
    return run(input.artifact as Artifact, options(), stageEmitter(ctx, input.id, stage));
  });
}

async function promote(ctx: Ctx, input: StageInput): Promise<Record<string, unknown>> {
  const sha256 = sha256Of(input.results);
  if (!sha256) throw new SecaiError(ErrorCode.INTERNAL, 'no SHA-256 from the integrity stage');
  const fmt = input.results.find((r) => r.stage === 'format')?.evidence;
  const merkle = input.results.find((r) => r.stage === 'static_scan')?.evidence.merkleRoot;
  void ctx.emit('stage', { id: input.id, stage: 'promote', percent: 0, note: 'copying into the registry' }).catch(() => {});
  return ctx.bus.request<Record<string, unknown>>('registry', 'promote', {
    jobId: input.id, name: modelName(input.artifact.name), path: input.artifact.path, kind: input.artifact.kind, sha256,
    format: input.artifact.kind === 'folder' ? 'diffusers' : String(fmt?.detected ?? 'unknown').slice(0, 64),
    merkleRoot: typeof merkle === 'string' ? merkle : null,
    stages: input.results.map((r) => ({ stage: r.stage, verdict: r.verdict, reason: r.reason.slice(0, 4096) })),
  }, 600_000);
}

/** The job is over: move the artifact where its outcome says, write the report, publish the verdict. */
async function finish(ctx: Ctx, out: PipelineOutput): Promise<void> {
  const r = reports.get(out.id);
  if (!r) return;
  const d = dirs(ctx);
  Object.assign(r, { state: out.outcome, reason: out.reason, results: out.results, entry: out.entry, finishedAt: new Date().toISOString() });
  const work = join(d.work, out.id);
  try {
    if (out.outcome === 'promoted') {
      rmSync(work, { recursive: true, force: true });
      r.location = `registry/${String(out.entry?.path ?? '')}`;
    } else {
      // Rejected and held artifacts stay in quarantine, with their report next to them.
      const dest = join(out.outcome === 'held' ? d.held : d.rejected, out.id);
      mkdirSync(join(dest, '..'), { recursive: true, mode: 0o700 });
      if (existsSync(work)) renameSync(work, dest);
      else mkdirSync(dest, { recursive: true, mode: 0o700 });
      r.location = `quarantine/${out.outcome}/${out.id}`;
      writeFileAtomic(join(dest, 'report.json'), JSON.stringify(r, null, 2) + '\n', 0o600);
    }
  } catch (err) {
    ctx.log.error({ id: out.id, err: (err as Error).message }, 'could not file the quarantined artifact');
  }
  persist(ctx, r);
  await ctx.emit('verdict', { id: r.id, name: r.name, outcome: out.outcome, reason: out.reason.slice(0, 4096), sha256: sha256Of(out.results), results: boundedResults(out.results) });
  ctx.log.info({ id: r.id, name: r.name, outcome: out.outcome }, `quarantine: ${r.name} ${out.outcome}`);
  if (out.outcome === 'rejected') await purge(ctx, planRetention(rejectedPayloads(ctx), policy.retention, Date.now()), 'retention policy');
}

/** Rejected jobs whose payload is still on disk. */
function rejectedPayloads(ctx: Pick<Ctx, 'paths'>): RejectedPayload[] {
  const out: RejectedPayload[] = [];
  for (const r of reports.values()) {
    const dir = join(dirs(ctx).rejected, r.id);
    if (r.state !== 'rejected' || r.purged || !existsSync(dir)) continue;
    out.push({ id: r.id, finishedAt: r.finishedAt ?? r.queuedAt, bytes: payloadBytes(dir) });
  }
  return out;
}

/** Drops the payloads of these rejected jobs, keeps and marks their reports, and says so in the audit chain. */
async function purge(ctx: Ctx, ids: readonly string[], by: string): Promise<{ purged: { id: string; bytes: number }[]; freedBytes: number }> {
  const purged: { id: string; bytes: number }[] = [];
  for (const id of ids) {
    const r = reports.get(id);
    const dir = join(dirs(ctx).rejected, id);
    if (!r || r.state !== 'rejected' || r.purged || !existsSync(dir)) continue;
    try {
      const bytes = dropPayload(dir);
      r.purged = { at: new Date().toISOString(), bytes, by };
      writeFileAtomic(join(dir, 'report.json'), JSON.stringify(r, null, 2) + '\n', 0o600);
      persist(ctx, r);
      purged.push({ id, bytes });
    } catch (err) {
      ctx.log.error({ id, err: (err as Error).message }, 'could not drop a rejected payload');
    }
  }
  const freedBytes = purged.reduce((n, p) => n + p.bytes, 0);
  if (purged.length) {
    ctx.log.info({ ids: purged.map((p) => p.id), freedBytes, by }, 'rejected payloads dropped; their reports stay');
    await ctx.emit('purged', { ids: purged.map((p) => p.id), freedBytes, by: by.slice(0, 256) });
  }
  return { purged, freedBytes };
}

/** `securectl models purge [id]`: one rejected payload, or every one. */
function purgeCommand(ctx: Ctx, req: { id?: string }, by: string) {
  if (req.id === undefined) return purge(ctx, rejectedPayloads(ctx).map((p) => p.id), by);
  const r = reports.get(req.id);
  if (!r) throw new SecaiError(ErrorCode.JOB_NOT_FOUND, `no quarantine job '${req.id}'`);
  if (r.state !== 'rejected') throw new SecaiError(ErrorCode.INVALID_STATE, `job ${req.id} is ${r.state}: only a rejected artifact's payload can be purged`);
  if (r.purged) throw new SecaiError(ErrorCode.INVALID_STATE, `job ${req.id}: its payload was already dropped (${r.purged.at}, ${r.purged.by})`);
  return purge(ctx, [req.id], by);
}

/** `take`: copy (a user's path), move (a drop in incoming/: copied, then removed) or owned (written by the quarantine: renamed). */
async function enqueue(ctx: Ctx, src: string, origin: Artifact['origin'], take: 'copy' | 'move' | 'owned', id?: string): Promise<Report> {
  const { id: jobId, artifact } = await ingest(src, origin, { workDir: dirs(ctx).work, maxFileBytes: policy.maxFileBytes, maxFolderBytes: policy.maxFolderBytes, move: take !== 'copy', owned: take === 'owned' }, id);
  const r: Report = {
    id: jobId, name: artifact.name, kind: artifact.kind, origin: { ...artifact.origin }, size: artifact.size, state: 'queued', reason: 'waiting for the scanner',
    results: [], entry: null, queuedAt: new Date().toISOString(), finishedAt: null, location: `quarantine/work/${jobId}`,
  };
  track(ctx, r);
  ctx.actor.send({ type: 'quarantine.enqueue', job: { id: jobId, artifact, policy: policy.pipeline, behavioralAvailable: loadBehavioralPolicy(ctx.configDir).enabled } });
  return r;
}

/** A job's report from now on: kept (the latest 1000), written, and announced with `job_queued`. */
function track(ctx: Ctx, r: Report): void {
  reports.set(r.id, r);
  while (reports.size > 1000) reports.delete(reports.keys().next().value!);
  persist(ctx, r);
  void ctx.emit('job_queued', { id: r.id, name: r.name, kind: r.kind, size: r.size, origin: r.origin }).catch(() => {});
}

function loadReports(ctx: Pick<Ctx, 'paths' | 'log'>): void {
  const dir = dirs(ctx).reports;
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort().slice(-1000)) {
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Report;
      // A job that was downloading, queued or scanning when the appliance stopped did not finish: it is not promoted.
      if (r.state === 'downloading' || r.state === 'queued' || r.state === 'scanning') {
        const during = r.state === 'downloading' ? 'download' : 'scan';
        Object.assign(r, { state: 'rejected', reason: `interrupted: the appliance stopped during the ${during}; import it again`, finishedAt: new Date().toISOString() });
        // Its private copy is kept with the rejected ones, never left half-scanned in work/.
        const work = join(dirs(ctx).work, r.id);
        const dest = join(dirs(ctx).rejected, r.id);
        if (existsSync(work) && !existsSync(dest)) renameSync(work, dest);
        mkdirSync(dest, { recursive: true, mode: 0o700 });
        r.location = `quarantine/rejected/${r.id}`;
        writeFileAtomic(join(dest, 'report.json'), JSON.stringify(r, null, 2) + '\n', 0o600);
        persist(ctx, r);
      }
      reports.set(r.id, r);
    } catch (err) {
      ctx.log.warn({ file: f, err: (err as Error).message }, 'unreadable quarantine report');
    }
  }
}

const summary = (r: Report) => ({ id: r.id, name: r.name, state: r.state, reason: r.reason.slice(0, 4096), queuedAt: r.queuedAt, sha256: sha256Of(r.results) });
const list = () => ({ jobs: [...reports.values()].slice(-1000).map(summary) });
function get(req: { id: string }) {
  const r = reports.get(req.id);
  if (!r) throw new SecaiError(ErrorCode.JOB_NOT_FOUND, `no quarantine job '${req.id}'`);
  return { ...r, results: boundedResults(r.results) };
}

/** Download progress as `source` stage events: every 10 % of a declared length, or every 64 MiB without one. */
function downloadProgress(ctx: Ctx, id: string, length: number | undefined): (bytes: number) => void {
  let next = 0;
  return (bytes) => {
    const percent = length ? Math.min(99, Math.floor((100 * bytes) / length)) : 0;
    const mark = length ? percent : Math.floor(bytes / (64 << 20));
    if (mark < next) return;
    next = mark + (length ? 10 : 1);
    void ctx.emit('stage', { id, stage: 'source', percent, note: `downloading: ${bytes} bytes received${length ? ` of ${length}` : ''}` }).catch(() => {});
  };
}

/**
 * A URL import: the airlock starts the download (every refusal before the first byte is thrown to the caller),
 * then the job exists, in state `downloading`, while its bytes arrive in the background; a verified file is
 * queued for the pipeline under the same id, a failed download ends the job rejected with the reason.
 * The caller is not held for the transfer (a 70 GB model takes longer than any request should wait).
 */
async function importUrl(ctx: Ctx, url: string): Promise<{ id: string; name: string }> {
  const o = {
    bus: ctx.bus, url, allowlist: policy.source.allowlist, workDir: dirs(ctx).work, maxBytes: policy.maxFileBytes,
    maxMs: downloadMaxMs(process.env.SECAI_QUARANTINE_DOWNLOAD_MAX_MS),
  };
  const open = await openDownload(o);
  const origin = { type: 'url', url } as const;
  const r: Report = {
    // Its size is the declared one (0 if none) until the file is queued with the size it has.
    id: newJobId(), name: fileName(open.url), kind: 'file', origin: { ...origin }, size: open.length ?? 0, state: 'downloading',
    reason: `downloading through the airlock from ${new URL(open.url).origin}`, results: [], entry: null,
    queuedAt: new Date().toISOString(), finishedAt: null, location: null,
  };
  track(ctx, r);
  const started = Date.now();
  const progress = downloadProgress(ctx, r.id, open.length);
  let received = 0;
  let cancelledBy: string | undefined;
  // Cancelling aborts the airlock's download: the pull waiting on it fails, and the job ends below.
  downloading.set(r.id, (who) => {
    cancelledBy = who;
    return ctx.bus.request('airlock', 'download_cancel', { id: open.id }, 5000).then(() => undefined);
  });
  void (async () => {
    let path: string | undefined;
    try {
      path = await receiveDownload(o, open, (bytes) => { received = bytes; progress(bytes); });
      downloading.delete(r.id);
      await enqueue(ctx, path, origin, 'owned', r.id);
    } catch (err) {
      downloading.delete(r.id);
      const reason = (cancelledBy ? `download cancelled by ${cancelledBy} after ${received} bytes` : `download failed: ${(err as Error).message}`).slice(0, 4096);
      const evidence = { url: open.url, bytes: received, code: (err as SecaiError).code ?? ErrorCode.INTERNAL };
      await finish(ctx, { id: r.id, outcome: 'rejected', reason, entry: null, results: [{ stage: 'source', verdict: 'fail', reason, evidence, durationMs: Date.now() - started }] });
    } finally {
      if (path) rmSync(join(path, '..'), { recursive: true, force: true });
    }
  })().catch((err: unknown) => ctx.log.error({ id: r.id, err: (err as Error).message }, 'URL import failed to settle'));
  return { id: r.id, name: r.name };
}

/** URL imports still downloading, by job id: each cancels its download, naming who asked. */
const downloading = new Map<string, (who: string) => Promise<void>>();

/** Cancels a job's download; a job past its download (or unknown) is refused, nothing else changes. */
async function cancelJob(req: { id: string }, who: string): Promise<{ cancelled: boolean }> {
  const r = reports.get(req.id);
  if (!r) throw new SecaiError(ErrorCode.JOB_NOT_FOUND, `no quarantine job '${req.id}'`);
  const cancel = downloading.get(req.id);
  if (!cancel) throw new SecaiError(ErrorCode.INVALID_STATE, `job ${req.id} is ${r.state}: only a download in progress can be cancelled`);
  downloading.delete(req.id);
  await cancel(who);
  return { cancelled: true };
}

async function importCommand(ctx: Ctx, req: { path?: string; url?: string }) {
  if ((req.path === undefined) === (req.url === undefined)) throw new SecaiError(ErrorCode.USAGE, 'import needs exactly one of path or url');
  if (req.url !== undefined) return importUrl(ctx, req.url);
  // A signed command: the operator's path may pass through links above it (/home → /var/home); the entry itself is never followed.
  const r = await enqueue(ctx, resolveParent(req.path!), { type: 'local' }, 'copy');
  return { id: r.id, name: r.name };
}

/** The web UI's imports (only the gateway may request them: ACL): uploads, policy-checked paths, URLs, the source catalog. */
function browserOps(ctx: Ctx) {
  const queued = (r: Report) => ({ id: r.id, name: r.name });
  const up = (uploads = new Uploads({ dir: join(dirs(ctx).work, 'uploads'), maxBytes: () => policy.maxFileBytes, enqueue: async (p) => queued(await enqueue(ctx, p, { type: 'upload' }, 'owned')) }));
  const decide = (input: { path: string; access: 'read' }) => ctx.bus.request<PathDecision>('policy', 'decide', { domain: 'path_access', input });
  return {
    upload_begin: (req: { name: string; size: number }, call: CallContext) => up.begin(call.caller, req),
    upload_chunk: (req: { uploadId: string; offset: number; data: Uint8Array }, call: CallContext) => up.chunk(call.caller, req),
    upload_end: (req: { uploadId: string }, call: CallContext) => up.end(call.caller, req),
    upload_abort: (req: { uploadId: string }, call: CallContext) => up.abort(call.caller, req),
    import_path: (req: { path: string }) => importByPath({
      decide,
      enqueue: async (p) => queued(await enqueue(ctx, p, { type: 'local' }, 'copy')),
      // The owner's log keeps why; the browser gets one answer for every refusal (no existence oracle).
      refused: (detail) => ctx.log.warn(detail, 'browser import by path refused'),
    }, req.path),
    import_url: (req: { url: string }) => importCommand(ctx, { url: req.url }),
    cancel: (req: { id: string }) => cancelJob(req, 'the web UI'),
    sources: () => ({
      sources: policy.source.allowlist.sources.map((e) => ({
        host: e.host, subdomains: e.subdomains, label: entryLabel(e),
        ...(e.path_prefix !== undefined && { pathPrefix: e.path_prefix }), ...(e.redirect_only && { redirectOnly: true }), ...(e.note && { note: e.note }),
      })),
      ipLiterals: [...policy.source.allowlist.ip_literals],
      // The same number upload_begin checks: the browser's own check can only be as strict as the server's.
      maxFileBytes: policy.maxFileBytes,
    }),
  };
}

main<typeof quarantineMachine>({
  manifest: quarantineManifest,
  machine: (base) => {
    policy = loadQuarantinePolicy(base.configDir);
    const d = dirs(base);
    for (const p of [d.work, d.reports, d.rejected, d.held, base.paths.incoming]) mkdirSync(p, { recursive: true, mode: 0o700 });
    loadReports(base);
    const ctx = base as Ctx;
    return quarantineMachine.provide({
      actors: {
        pipeline: pipelineMachine.provide({
          actors: {
            sourceStage: runner(ctx, 'source', sourceStage, () => policy.source),
            formatStage: runner(ctx, 'format', formatStage, () => policy.format),
            integrityStage: runner(ctx, 'integrity', integrityStage, () => policy.integrity),
            provenanceStage: runner(ctx, 'provenance', provenanceStage, () => policy.provenance),
            staticScanStage: runner(ctx, 'static_scan', staticScanStage, () => policy.staticScan),
            // Stage 6: the candidate runs in the llm worker sandbox at temperature 0 against the adversarial suite.
            behavioralStage: runner(ctx, 'behavioral', behavioralStage, () => loadBehavioralPolicy(ctx.configDir).options),
            diffusionStage: runner(ctx, 'diffusion', diffusionStage, () => policy.diffusion),
            promote: fromPromise<Record<string, unknown>, StageInput>(({ input }) => promote(ctx, input)),
          },
          actions: {
            stageRecorded: ({ context }, p) => {
              const { result } = p as { result: StageResult };
              void ctx.emit('stage', { id: context.job.id, stage: result.stage, verdict: result.verdict, percent: 100, note: result.reason.slice(0, 1024) }).catch(() => {});
            },
          },
        }),
      },
      actions: {
        reportOutcome: (_, p) => {
          finishing = finishing.then(() => finish(ctx, (p as { output: PipelineOutput }).output)).catch((err: unknown) => ctx.log.error({ err }, 'finishing a quarantine job failed'));
        },
      },
    });
  },
  publicContext: (c) => ({ queued: c.queue.length, current: c.current ? { id: c.current.id, name: c.current.artifact.name } : null, done: c.done }),
  ops: (ctx) => ({ list, get, ...browserOps(ctx) }),
  commands: (ctx) => ({
    import: (req: { path?: string; url?: string }) => importCommand(ctx, req),
    cancel: (req: { id: string }, call: CallContext) => cancelJob(req, `operator ${call.operator?.keyId ?? 'unknown'}`),
    purge: (req: { id?: string }, call: CallContext) => {
      const run = finishing.then(() => purgeCommand(ctx, req, `operator ${call.operator?.keyId ?? 'unknown'}`));
      finishing = run.catch(() => undefined);
      return run;
    },
    list,
    get,
  }),
  start: (ctx) => {
    // The retention policy may have tightened since the last run.
    finishing = finishing.then(() => purge(ctx, planRetention(rejectedPayloads(ctx), policy.retention, Date.now()), 'retention policy'))
      .catch((err: unknown) => ctx.log.error({ err }, 'retention at start failed'));
    const partial = removePartialDownloads(dirs(ctx).work);
    if (partial.length) ctx.log.warn({ removed: partial }, 'removed partial downloads of an interrupted run');
    const refuse = (name: string, reason: string) => {
      ctx.log.warn({ name, reason }, 'incoming entry refused');
      void ctx.emit('refused', { name: name.slice(0, 255), reason: reason.slice(0, 1024) }).catch(() => {});
    };
    watcher = new IncomingWatcher({
      dir: ctx.paths.incoming,
      settleMs: Number(process.env.SECAI_QUARANTINE_SETTLE_MS ?? 1000),
      onReady: (path, name) => {
        (async () => enqueue(ctx, resolveParent(path), { type: 'local' }, 'move'))().catch((err: unknown) => refuse(name, (err as Error).message));
      },
      onRefused: refuse,
    });
    watcher.start();
    sweeper = setInterval(() => uploads?.sweep(), 5000).unref();
  },
  stop: async () => {
    watcher?.stop();
    clearInterval(sweeper);
    uploads?.close();
    await finishing;
  },
});
