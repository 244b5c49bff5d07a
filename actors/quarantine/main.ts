// Quarantine actor process: wiring only. Imports become job machines in the quarantine machine; replies are read off its snapshot.
import { mkdirSync } from 'node:fs';
import { assertStorageRoom, storageState } from '../../common/storage.js';
import { faultSettings } from '../../common/fault-settings.js';
import { join } from 'node:path';
import { waitFor } from 'xstate';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import {
  jobMachine, quarantineMachine, type CatalogPin, type DownloadTicket, type JobContext, type JobRecord, type PipelineArtifact,
} from '../../machines/quarantine/quarantine.machine.js';
import { main, type ActorContext, type ActorDefinition } from '../../runtime/host.js';
import type { CallContext } from '../../bus/service.js';
import { catalogOps } from './catalog-import.js';
import { fileName, openDownload, removePartialDownloads } from './download.js';
import { ingest, newJobId, resolveParent } from './ingest.js';
import { providedJobMachine } from './job-effects.js';
import { quarantineManifest } from './manifest.js';
import { loadQuarantineFiles, quarantinePolicy, type QuarantinePolicy } from './policy.js';
import { purge, purgeCommand, rejectedPayloads, type PurgeDeps } from './purge.js';
import { boundedResults, dirs, fileArtifact, loadReports, persist, reportsOf, sha256Of, summary, withState, type Report } from './reports.js';
import { publicContext, publicJob } from './public-view.js';
import { planRetention } from './retention.js';
import { behavioralPolicy } from './stages/behavioral.js';
import { configSection } from '../../runtime/config-section.js';
import { secaiEnv } from '../../common/env.js';
import { entryLabel } from './stages/source.js';
import type { Artifact } from './stages/types.js';
import { importByPath, type PathDecision } from './path-import.js';
import { Uploads } from './upload.js';
import { IncomingWatcher } from './watcher.js';

type Machine = typeof quarantineMachine;
type Ctx = ActorContext<Machine>;

/**
 * This process's resources that are not machine state: the policy read at start, the incoming/ watcher, the upload
 * folder and its sweep timer, and the chain that files finished jobs in order (a purge waits for the filing before it).
 */
interface Resources {
  /** policy.yaml `quarantine` (with the two files) and `inference.behavioral`, replaced on each reload that changes them. */
  policy: QuarantinePolicy;
  behavioral: ReturnType<typeof behavioralPolicy>;
  watcher?: IncomingWatcher;
  uploads?: Uploads;
  sweeper?: NodeJS.Timeout;
  filing: Promise<unknown>;
}

type Base = Omit<Ctx, 'actor' | 'sendAndWait'>;
/** The running quarantine machine, as ops see it (ctx.actor) and as its own actions do (self). */
type MachineRef = Pick<Ctx['actor'], 'getSnapshot' | 'send'>;

const reportsNow = (ctx: Ctx) => reportsOf(ctx.actor.getSnapshot() as never);

function purgeDeps(ctx: Base, actor: MachineRef): PurgeDeps {
  return { ...ctx, reports: () => reportsOf(actor.getSnapshot() as never), purged: (id, purged) => actor.send({ type: 'quarantine.purged', id, purged }) };
}

/** Runs `step` after every filing already started, so reports reach disk and the audit chain in order. */
function serially<T>(res: Resources, step: () => Promise<T>): Promise<T> {
  const run = res.filing.then(step);
  res.filing = run.catch(() => undefined); // lint-ok: the caller gets run's error; the chain only has to go on
  return run;
}

/** A new job for the machine: its report and the input its job machine starts with. */
function createJob(ctx: Ctx, res: Resources, id: string, artifact: PipelineArtifact, download: DownloadTicket | null, reason: string): { id: string; name: string } {
  const report: JobRecord = {
    id, name: artifact.name, kind: artifact.kind, origin: { ...artifact.origin }, size: artifact.size, state: null, reason,
    results: [], entry: null, queuedAt: new Date().toISOString(), finishedAt: null, location: download ? null : `quarantine/work/${id}`,
  };
  ctx.actor.send({
    type: 'quarantine.create', report,
    job: { id, artifact, policy: res.policy.pipeline, behavioralAvailable: res.behavioral.enabled, download },
  });
  return { id, name: artifact.name };
}

/** `take`: copy (a user's path), move (a drop in incoming/: copied, then removed) or owned (written by the quarantine: renamed). */
async function enqueue(ctx: Ctx, res: Resources, src: string, origin: Artifact['origin'], take: 'copy' | 'move' | 'owned') {
  const p = res.policy;
  const { id, artifact } = await ingest(src, origin, { workDir: dirs(ctx).work, maxFileBytes: p.maxFileBytes, maxFolderBytes: p.maxFolderBytes, move: take !== 'copy', owned: take === 'owned' });
  return createJob(ctx, res, id, artifact, null, 'waiting for the scanner');
}

/**
 * A URL import: the airlock starts the download (every refusal before the first byte is thrown to the caller),
 * then the job exists, in state `downloading`, while its job machine pulls the bytes; the caller is not held for
 * the transfer (a 70 GB model takes longer than any request should wait).
 */
async function importUrl(ctx: Ctx, res: Resources, url: string, pin?: CatalogPin): Promise<{ id: string; name: string }> {
  const open = await openDownload({
    bus: ctx.bus, url, allowlist: res.policy.source.allowlist, workDir: dirs(ctx).work, maxBytes: res.policy.maxFileBytes,
    maxMs: secaiEnv().quarantineDownloadMaxMs,
  });
  // Until the file is in, the artifact is what the airlock declared (its size 0 if none); the job machine replaces it.
  const origin: PipelineArtifact['origin'] = pin ? { type: 'url', url, catalog: pin } : { type: 'url', url };
  const artifact: PipelineArtifact = { path: '', kind: 'file', name: fileName(open.url), origin, size: open.length ?? 0 };
  return createJob(ctx, res, newJobId(), artifact, open, `downloading through the airlock from ${new URL(open.url).origin}`);
}

async function importCommand(ctx: Ctx, res: Resources, req: { path?: string; url?: string }) {
  if ((req.path === undefined) === (req.url === undefined)) throw new SecaiError(ErrorCode.USAGE, 'import needs exactly one of path or url');
  if (req.url !== undefined) return importUrl(ctx, res, req.url);
  // A signed command: the operator's path may pass through links above it (/home → /var/home); the entry itself is never followed.
  return enqueue(ctx, res, resolveParent(req.path!), { type: 'local' }, 'copy');
}

/** Cancels a job's download; a job past its download (or unknown) is refused, nothing else changes. */
async function cancelJob(ctx: Ctx, req: { id: string }, who: string): Promise<{ cancelled: boolean }> {
  const snap = ctx.actor.getSnapshot();
  const record = snap.context.reports[req.id];
  if (!record) throw new SecaiError(ErrorCode.JOB_NOT_FOUND, `no quarantine job '${req.id}'`);
  const child = snap.children[req.id];
  const receiving = (child?.getSnapshot() as { matches?: (v: unknown) => boolean } | undefined)?.matches?.({ downloading: 'receiving' }) ?? false;
  if (!child || !receiving) throw new SecaiError(ErrorCode.INVALID_STATE, `job ${req.id} is ${withState(record, child).state}: only a download in progress can be cancelled`);
  ctx.actor.send({ type: 'quarantine.cancel', id: req.id, by: who });
  // The job machine asks the airlock; it answers here once the airlock agreed (or refused: the download goes on).
  const after = await waitFor(child, (s) => !(s as { matches(v: unknown): boolean }).matches({ downloading: 'cancelling' }), { timeout: 10_000 });
  const { cancelError } = (after as { context: JobContext }).context;
  if ((after as { matches(v: unknown): boolean }).matches({ downloading: 'receiving' })) {
    throw new SecaiError(ErrorCode.EGRESS_FAILED, `the airlock did not cancel the download of job ${req.id}: ${cancelError ?? 'no answer'}`);
  }
  return { cancelled: true };
}

function queries(ctx: Ctx) {
  return {
    list: () => ({ jobs: [...reportsNow(ctx).values()].slice(-1000).map(summary) }),
    get: (req: { id: string }) => {
      const r = reportsNow(ctx).get(req.id);
      if (!r) throw new SecaiError(ErrorCode.JOB_NOT_FOUND, `no quarantine job '${req.id}'`);
      return { ...r, results: boundedResults(r.results) };
    },
  };
}

/** The signed model catalog (catalog-import.ts): list it, or import an entry with its pin. */
const catalog = (ctx: Ctx, res: Resources) => catalogOps({ configDir: ctx.configDir, policy: () => res.policy, importUrl: (url, pin) => roomFor(ctx, 'an import') ?? importUrl(ctx, res, url, pin) });

/** New work is refused up front while storage is below its minimum (degraded_storage): answered at once, nothing queued. */
const roomFor = (ctx: Ctx, what: string): undefined => { assertStorageRoom(ctx.paths.home, what); return undefined; };

/** The web UI's imports (only the gateway may request them: ACL): uploads, policy-checked paths, URLs, the source catalog. */
function browserOps(ctx: Ctx, res: Resources) {
  const up = (res.uploads = new Uploads({
    dir: join(dirs(ctx).work, 'uploads'), maxBytes: () => res.policy.maxFileBytes, enqueue: (p) => enqueue(ctx, res, p, { type: 'upload' }, 'owned'),
  }));
  const decide = (input: { path: string; access: 'read' }) => ctx.bus.request<PathDecision>('policy', 'decide', { domain: 'path_access', input });
  return {
    upload_begin: (req: { name: string; size: number }, call: CallContext) => { roomFor(ctx, 'an upload'); return up.begin(call.caller, req); },
    upload_chunk: (req: { uploadId: string; offset: number; data: Uint8Array }, call: CallContext) => up.chunk(call.caller, req),
    upload_end: (req: { uploadId: string }, call: CallContext) => up.end(call.caller, req),
    upload_abort: (req: { uploadId: string }, call: CallContext) => up.abort(call.caller, req),
    import_path: (req: { path: string }) => roomFor(ctx, 'an import') ?? importByPath({
      decide,
      enqueue: (p) => enqueue(ctx, res, p, { type: 'local' }, 'copy'),
      // The owner's log keeps why; the browser gets one answer for every refusal (no existence oracle).
      refused: (detail) => ctx.log.warn(detail, 'browser import by path refused'),
    }, req.path),
    import_url: (req: { url: string }) => roomFor(ctx, 'an import') ?? importCommand(ctx, res, { url: req.url }),
    ...catalog(ctx, res),
    cancel: (req: { id: string }) => cancelJob(ctx, req, 'the web UI'),
    sources: () => ({
      sources: res.policy.source.allowlist.sources.map((e) => ({
        host: e.host, subdomains: e.subdomains, label: entryLabel(e),
        ...(e.path_prefix !== undefined && { pathPrefix: e.path_prefix }), ...(e.redirect_only && { redirectOnly: true }), ...(e.note && { note: e.note }),
      })),
      ipLiterals: [...res.policy.source.allowlist.ip_literals],
      // The same number upload_begin checks: the browser's own check can only be as strict as the server's.
      maxFileBytes: res.policy.maxFileBytes,
    }),
  };
}

/** The effects the quarantine machine calls when a report is created or a job ends. */
function provided(ctx: Base, res: Resources) {
  return quarantineMachine.provide({
    actors: { job: providedJobMachine({ ...ctx, policy: () => res.policy, behavioral: () => res.behavioral.options }) },
    actions: {
      reportTracked: (_, { report, state }) => {
        persist(ctx, { ...report, state });
        void ctx.emitOrLog('job_queued', { id: report.id, name: report.name, kind: report.kind, size: report.size, origin: report.origin });
      },
      reportFinished: ({ self }, { report, output }) => {
        if (!report) return;
        const purging = purgeDeps(ctx, self as unknown as MachineRef);
        const r = report as Report;
        serially(res, async () => {
          fileArtifact(ctx, r, output);
          await ctx.emit('verdict', { id: r.id, name: r.name, outcome: output.outcome, reason: output.reason.slice(0, 4096), sha256: sha256Of(output.results), results: boundedResults(output.results) });
          ctx.log.info({ id: r.id, name: r.name, outcome: output.outcome }, `quarantine: ${r.name} ${output.outcome}`);
          if (output.outcome === 'rejected') await purge(purging, planRetention(rejectedPayloads(purging), res.policy.retention, Date.now()), 'retention policy');
        }).catch((err: unknown) => ctx.log.error({ err }, 'finishing a quarantine job failed'));
      },
    },
  });
}

function quarantineActor(): ActorDefinition<Machine, typeof quarantineManifest> {
  const res: Resources = { policy: undefined as unknown as QuarantinePolicy, behavioral: undefined as unknown as Resources['behavioral'], filing: Promise.resolve() };
  return {
    manifest: quarantineManifest,
    input: (base) => ({ reports: loadReports(base) }),
    machine: async (base) => {
      // The sections come from the policy actor and are applied again on each reload that changes them: the next
      // import (and the next stage of a running one) uses the new limits. The two files are read once, at start.
      const files = loadQuarantineFiles(base.configDir);
      await configSection(base, 'quarantine', (q, digest) => { res.policy = quarantinePolicy(q, files, digest); });
      await configSection(base, 'inference', (inf) => { res.behavioral = behavioralPolicy(inf); });
      const d = dirs(base);
      for (const p of [d.work, d.reports, d.rejected, d.held, base.paths.incoming]) mkdirSync(p, { recursive: true, mode: 0o700 });
      return provided(base, res);
    },
    publicContext,
    publishChildren: publicJob,
    childMachines: { job: jobMachine },
    ops: (ctx) => ({ ...queries(ctx), ...browserOps(ctx, res) }),
    commands: (ctx) => ({
      import: (req: { path?: string; url?: string }) => roomFor(ctx, 'an import') ?? importCommand(ctx, res, req),
      cancel: (req: { id: string }, call: CallContext) => cancelJob(ctx, req, `operator ${call.operator?.keyId ?? 'unknown'}`),
      purge: (req: { id?: string }, call: CallContext) => serially(res, () => purgeCommand(purgeDeps(ctx, ctx.actor), req, `operator ${call.operator?.keyId ?? 'unknown'}`)),
      ...queries(ctx),
      ...catalog(ctx, res),
    }),
    start: (ctx) => {
      // The retention policy may have tightened since the last run.
      const purging = purgeDeps(ctx, ctx.actor);
      serially(res, () => purge(purging, planRetention(rejectedPayloads(purging), res.policy.retention, Date.now()), 'retention policy'))
        .catch((err: unknown) => ctx.log.error({ err }, 'retention at start failed'));
      const partial = removePartialDownloads(dirs(ctx).work);
      if (partial.length) ctx.log.warn({ removed: partial }, 'removed partial downloads of an interrupted run');
      const refuse = (name: string, reason: string) => {
        ctx.log.warn({ name, reason }, 'incoming entry refused');
        void ctx.emitOrLog('refused', { name: name.slice(0, 255), reason: reason.slice(0, 1024) });
      };
      res.watcher = new IncomingWatcher({
        dir: ctx.paths.incoming,
        settleMs: secaiEnv().quarantineSettleMs,
        onReady: (path, name) => {
          enqueue(ctx, res, resolveParent(path), { type: 'local' }, 'move').catch((err: unknown) => refuse(name, (err as Error).message));
        },
        onRefused: refuse,
        // A drop waits in incoming/ while storage is low (its copy would eat what is left) and is taken once it returns.
        holdReason: () => storageState(ctx.paths.home, faultSettings().minFreeMb).state === 'degraded_storage' ? 'storage is below its minimum (degraded_storage)' : undefined,
        onHeld: (name, reason) => ctx.log.warn({ name, reason }, 'incoming entry waits until storage returns'),
      });
      res.watcher.start();
      res.sweeper = setInterval(() => res.uploads?.sweep(), 5000).unref();
    },
    stop: async () => {
      res.watcher?.stop();
      clearInterval(res.sweeper);
      res.uploads?.close();
      await res.filing;
    },
  };
}

main<Machine, typeof quarantineManifest>(quarantineActor());
