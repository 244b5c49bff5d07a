// Groups quarantine events from the audit stream into runs: one per job id, its stages in order, and its outcome.
import type { AuditRecord } from './live.js';

export interface StageStep { stage: string; verdict: string; reason: string; evidence: unknown; seq: number }
export interface Run { id: string; name: string; steps: StageStep[]; outcome: string | null; reason: string; lastSeq: number }

const OUTCOMES = new Set(['promoted', 'rejected', 'held']);

/** Folds one record into the runs (records that are not quarantine events are ignored). */
export function foldRun(runs: Map<string, Run>, r: AuditRecord): void {
  const m = /^secai\.evt\.quarantine\.([a-z0-9_-]+)$/.exec(r.subject);
  if (!m || !r.payload || typeof r.payload !== 'object') return;
  const p = r.payload as Record<string, unknown>;
  const job = (p.job && typeof p.job === 'object' ? p.job : {}) as Record<string, unknown>;
  const id = typeof p.id === 'string' ? p.id : typeof job.id === 'string' ? job.id : undefined;
  if (!id) return;
  const run = runs.get(id) ?? { id, name: '', steps: [], outcome: null, reason: '', lastSeq: 0 };
  const name = p.name ?? (p.artifact as Record<string, unknown> | undefined)?.name;
  if (typeof name === 'string' && !run.name) run.name = name;
  const verdict = typeof p.verdict === 'string' ? p.verdict : undefined;
  if (typeof p.stage === 'string' && verdict) {
    run.steps = [...run.steps.filter((s) => s.stage !== p.stage), { stage: p.stage, verdict, reason: String(p.reason ?? ''), evidence: p.evidence ?? null, seq: r.seq }];
  }
  const outcome = typeof p.outcome === 'string' ? p.outcome : OUTCOMES.has(m[1]!) ? m[1]! : null;
  if (outcome && OUTCOMES.has(outcome)) {
    run.outcome = outcome;
    run.reason = String(p.reason ?? '');
  }
  run.lastSeq = r.seq;
  runs.set(id, run);
}
