// Groups quarantine events from the audit stream into runs: one per job id, its stages in order, and its outcome.
import type { AuditRecord } from './types.js';

export interface StageStep { stage: string; verdict: string; reason: string; evidence: unknown; seq: number }
/** `downloading`: a URL import still receiving its file (it can be cancelled). */
export interface Run { id: string; name: string; steps: StageStep[]; current: string | null; percent: number | null; outcome: string | null; reason: string; lastSeq: number; downloading: boolean }

const OUTCOMES = new Set(['promoted', 'rejected', 'held']);

export function emptyRun(id: string): Run {
  return { id, name: '', steps: [], current: null, percent: null, outcome: null, reason: '', lastSeq: 0, downloading: false };
}

/** A stage result as the quarantine reports it (`results[]` of a verdict or a job report). */
export function stepsFromResults(results: unknown, seq: number): StageStep[] {
  if (!Array.isArray(results)) return [];
  return results.flatMap((r) => {
    const x = (r ?? {}) as Record<string, unknown>;
    return typeof x.stage === 'string' && typeof x.verdict === 'string'
      ? [{ stage: x.stage, verdict: x.verdict, reason: String(x.reason ?? ''), evidence: x.evidence ?? null, seq }]
      : [];
  });
}

/**
 * Folds one record into the runs: `job_queued` names a run, `stage` moves it (a verdict ends a stage),
 * `verdict` ends it with every stage result and its evidence. Other records are ignored.
 */
export function foldRun(runs: Map<string, Run>, r: AuditRecord): void {
  const m = /^secai\.evt\.quarantine\.([a-z0-9_-]+)$/.exec(r.subject);
  if (!m || !r.payload || typeof r.payload !== 'object') return;
  const p = r.payload as Record<string, unknown>;
  if (typeof p.id !== 'string') return;
  const run = runs.get(p.id) ?? emptyRun(p.id);
  if (typeof p.name === 'string' && p.name) run.name = p.name;
  if (m[1] === 'stage' && typeof p.stage === 'string') {
    // The quarantine reports a download as `source` progress with a note that says so.
    run.downloading = p.stage === 'source' && typeof p.verdict !== 'string' && typeof p.note === 'string' && p.note.startsWith('downloading');
    if (typeof p.verdict === 'string') {
      run.steps = [...run.steps.filter((s) => s.stage !== p.stage), { stage: p.stage, verdict: p.verdict, reason: String(p.note ?? ''), evidence: null, seq: r.seq }];
      run.current = null;
      run.percent = null;
    } else {
      run.current = p.stage;
      run.percent = typeof p.percent === 'number' ? p.percent : null;
    }
  }
  if (m[1] === 'verdict' && typeof p.outcome === 'string' && OUTCOMES.has(p.outcome)) {
    run.outcome = p.outcome;
    run.downloading = false;
    run.reason = String(p.reason ?? '');
    const steps = stepsFromResults(p.results, r.seq);
    if (steps.length) run.steps = steps;
    run.current = null;
    run.percent = null;
  }
  run.lastSeq = r.seq;
  runs.set(p.id, run);
}
