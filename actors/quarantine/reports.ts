// Job reports on disk and on the bus: where they live, how they are written, filed, reloaded at start, and shaped for a reply.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AnyActorRef } from 'xstate';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { Logger } from '../../common/log.js';
import type { HomePaths } from '../../common/paths.js';
import { phaseOf, type JobContext, type JobRecord, type PipelineOutput, type QuarantineContext, type StageResult } from '../../machines/quarantine/quarantine.machine.js';

/** A report as replies and report.json show it: the record with the job's current state (its machine's, while it runs). */
export type Report = Omit<JobRecord, 'state'> & { state: 'downloading' | 'queued' | 'scanning' | 'promoted' | 'rejected' | 'held' };

export const dirs = (ctx: { paths: HomePaths }) => ({
  work: ctx.paths.quarantineWork,
  reports: join(ctx.paths.quarantine, 'reports'),
  rejected: join(ctx.paths.quarantine, 'rejected'),
  held: join(ctx.paths.quarantine, 'held'),
});

/** Evidence as it goes onto the bus: bounded per stage (the full evidence stays in report.json). */
export function boundedResults(results: readonly StageResult[]): Record<string, unknown>[] {
  return results.map((r) => {
    const json = JSON.stringify(r.evidence);
    if (json.length <= 24 * 1024) return { ...r };
    const keep = Object.fromEntries(Object.entries(r.evidence).filter(([, v]) => JSON.stringify(v ?? null).length <= 2048));
    return { ...r, evidence: { ...keep, truncated: true, note: 'full evidence in the job report (securectl models report <id>)' } };
  });
}

export function sha256Of(results: readonly StageResult[]): string | null {
  const v = results.find((r) => r.stage === 'integrity')?.evidence['sha256'];
  return typeof v === 'string' ? v : null;
}

/**
 * The reports as the machine holds them, each with its state: a finished job's from its record, a running job's
 * from its job machine's snapshot (its results too): there is no second copy of a running job's state.
 */
export function reportsOf(snapshot: { context: QuarantineContext; children: Record<string, AnyActorRef | undefined> }): Map<string, Report> {
  const out = new Map<string, Report>();
  for (const r of Object.values(snapshot.context.reports)) out.set(r.id, withState(r, snapshot.children[r.id]));
  return out;
}

export function withState(r: JobRecord, child: AnyActorRef | undefined): Report {
  if (r.state) return r as Report;
  const s = child?.getSnapshot() as { value: unknown; context: JobContext } | undefined;
  // A record without a machine (it cannot happen while the actor runs) reads as queued, never as finished.
  return { ...r, state: s ? phaseOf(s.value) : 'queued', results: s?.context.results ?? r.results };
}

export function persist(ctx: { paths: HomePaths }, r: Report): void {
  writeFileAtomic(join(dirs(ctx).reports, `${r.id}.json`), JSON.stringify(r, null, 2) + '\n', 0o600);
}

/** Moves a finished job's artifact where its outcome says (rejected/held keep it with a report.json), and writes the report. */
export function fileArtifact(ctx: { paths: HomePaths; log: Logger }, r: Report, out: PipelineOutput): void {
  const d = dirs(ctx);
  const work = join(d.work, out.id);
  try {
    if (out.outcome === 'promoted') {
      rmSync(work, { recursive: true, force: true });
    } else {
      // Rejected and held artifacts stay in quarantine, with their report next to them.
      const dest = join(out.outcome === 'held' ? d.held : d.rejected, out.id);
      mkdirSync(join(dest, '..'), { recursive: true, mode: 0o700 });
      if (existsSync(work)) renameSync(work, dest);
      else mkdirSync(dest, { recursive: true, mode: 0o700 });
      writeFileAtomic(join(dest, 'report.json'), JSON.stringify(r, null, 2) + '\n', 0o600);
    }
  } catch (err) {
    ctx.log.error({ id: out.id, err: (err as Error).message }, 'could not file the quarantined artifact');
  }
  persist(ctx, r);
}

/** The reports of earlier runs (the latest 1000); a job that was still running when the appliance stopped is rejected as interrupted. */
export function loadReports(ctx: { paths: HomePaths; log: Logger }): Record<string, JobRecord> {
  const out: Record<string, JobRecord> = {};
  const dir = dirs(ctx).reports;
  if (!existsSync(dir)) return out;
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
      out[r.id] = r as JobRecord;
    } catch (err) {
      ctx.log.warn({ file: f, err: (err as Error).message }, 'unreadable quarantine report');
    }
  }
  return out;
}

export const summary = (r: Report) => ({ id: r.id, name: r.name, state: r.state, reason: r.reason.slice(0, 4096), queuedAt: r.queuedAt, sha256: sha256Of(r.results) });
