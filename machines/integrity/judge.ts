// What a change to a watched file means: pure judgement of scan results into findings, pending changes and a trust level.

/** What a watched file is: its kind decides what a change to it means (policy `integrity.levels`). */
export type EntryKind = 'code' | 'config' | 'policy' | 'trust' | 'model' | 'registry_manifest';
export type Level = 'degraded' | 'recovery_required';
export type TrustLevel = 'trusted' | Level;

/** One file in the baseline: its content digest and the stat fields a cheap check compares. */
export interface FileRecord { sha256: string; size: number; mtimeMs: number; ctimeMs: number; ino: number; kind: EntryKind }
/** Absolute path → record. */
export type Entries = Record<string, FileRecord>;

export interface Change {
  path: string;
  kind: EntryKind;
  change: 'changed' | 'added' | 'removed';
  /** Digests: the baseline's and what is on disk now (null: absent). */
  old: string | null;
  new: string | null;
  /** For a registry path: the model it belongs to, from the signed registry manifest. */
  model?: string;
  /** Why the change is legitimate (a promotion, a removal, a signed policy reload), or absent. */
  explained?: string;
  /** The record now on disk (absent when removed). */
  record?: FileRecord;
}

/** An open finding: a change nobody explained, or a canary touch, or a forged baseline. */
export interface Finding {
  key: string;
  class: 'integrity_violation' | 'manifest_mismatch' | 'unauthorized_access';
  level: Level;
  kind: EntryKind | 'canary' | 'baseline';
  summary: string;
  path: string;
  model?: string;
  old?: string | null;
  new?: string | null;
  at: number;
  /** Canary touches counted under this finding. */
  count: number;
}

/** A change that a legitimate event may still explain, until its deadline. */
export interface Pending { path: string; new: string | null; since: number; deadline: number; change: Change }

export interface IntegritySettings {
  scanIntervalMs: number;
  fullHashIntervalMs: number;
  smallFileBytes: number;
  pendingGraceMs: number;
  escalateAfter: number;
  canaries: boolean;
  levels: Record<EntryKind | 'canary', Level>;
}

export const DEFAULT_SETTINGS: IntegritySettings = {
  scanIntervalMs: 30_000, fullHashIntervalMs: 3_600_000, smallFileBytes: 0, pendingGraceMs: 60_000, escalateAfter: 3, canaries: true,
  levels: { code: 'recovery_required', config: 'recovery_required', policy: 'recovery_required', trust: 'recovery_required', model: 'degraded', registry_manifest: 'degraded', canary: 'degraded' },
};

/**
 * A change that may still be explained by an event that comes after it: a model file appearing or
 * disappearing while the registry promotes or removes it, or policy.yaml edited before its signed reload.
 * A changed existing model file is never legitimate (promotions write new folders), so it is a finding at once.
 */
export const mayWait = (c: Change): boolean => (c.kind === 'model' && c.change !== 'changed') || c.kind === 'policy';

const WHAT: Record<EntryKind, string> = {
  code: 'appliance code', config: 'config file', policy: 'policy file', trust: 'trust material', model: 'registry model file', registry_manifest: 'registry manifest',
};

/** The finding an unexplained change becomes. */
export function findingOf(c: Change, s: IntegritySettings, at: number): Finding {
  const model = c.kind === 'model' || c.kind === 'registry_manifest';
  return {
    key: `path:${c.path}`,
    class: model ? 'manifest_mismatch' : 'integrity_violation',
    level: s.levels[c.kind],
    kind: c.kind,
    summary: `${WHAT[c.kind]} ${c.change}${c.model ? ` (model ${c.model})` : ''}: ${c.path}`.slice(0, 1024),
    path: c.path,
    ...(c.model !== undefined && { model: c.model }),
    old: c.old, new: c.new, at, count: 1,
  };
}

/** The state the open findings call for. */
export function levelOf(findings: Record<string, Finding>, escalateAfter: number): TrustLevel {
  const all = Object.values(findings);
  if (all.some((f) => f.level === 'recovery_required')) return 'recovery_required';
  if (all.length >= escalateAfter) return 'recovery_required';
  return all.length ? 'degraded' : 'trusted';
}

/** What a scan found, judged against what is open and pending; `at` is the scan's clock. */
export interface Judged {
  /** Baseline records to set (explained changes and stat-only changes) or drop (null). */
  accept: Record<string, FileRecord | null>;
  findings: Record<string, Finding>;
  pending: Record<string, Pending>;
  /** Findings new in this scan: each is reported once. */
  fresh: Finding[];
}

export function judge(changes: readonly Change[], checked: readonly string[] | 'all', findings: Record<string, Finding>, pending: Record<string, Pending>, s: IntegritySettings, at: number): Judged {
  const accept: Record<string, FileRecord | null> = {};
  const nextFindings = { ...findings };
  // A path checked again and found unchanged (or explained) is no longer pending.
  const looked = (p: string) => checked === 'all' || checked.some((c) => p === c || p.startsWith(`${c}/`));
  const nextPending: Record<string, Pending> = Object.fromEntries(Object.entries(pending).filter(([p]) => !looked(p)));
  const fresh: Finding[] = [];
  for (const c of changes) {
    if (c.explained) {
      accept[c.path] = c.change === 'removed' ? null : c.record ?? null;
      delete nextFindings[`path:${c.path}`];
      continue;
    }
    const open = nextFindings[`path:${c.path}`];
    if (open && open.new === c.new) continue; // reported already, unchanged since
    const was = pending[c.path];
    if (mayWait(c) && !open) {
      const since = was && was.new === c.new ? was.since : at;
      const deadline = since + s.pendingGraceMs;
      if (at < deadline) { nextPending[c.path] = { path: c.path, new: c.new, since, deadline, change: c }; continue; }
    }
    const f = findingOf(c, s, at);
    nextFindings[f.key] = f;
    fresh.push(f);
  }
  return { accept, findings: nextFindings, pending: nextPending, fresh };
}

/** Pending changes past their deadline become findings (a tick with no scan still expires them). */
export function expire(findings: Record<string, Finding>, pending: Record<string, Pending>, s: IntegritySettings, at: number): Judged {
  const expired = Object.values(pending).filter((p) => p.deadline <= at);
  if (!expired.length) return { accept: {}, findings, pending, fresh: [] };
  const nextPending = { ...pending };
  const nextFindings = { ...findings };
  const fresh: Finding[] = [];
  for (const p of expired) {
    delete nextPending[p.path];
    const f = findingOf(p.change, s, at);
    nextFindings[f.key] = f;
    fresh.push(f);
  }
  return { accept: {}, findings: nextFindings, pending: nextPending, fresh };
}

/** Baseline entries with `accept` applied. */
export function applied(entries: Entries, accept: Record<string, FileRecord | null>): Entries {
  if (!Object.keys(accept).length) return entries;
  const next = { ...entries };
  for (const [p, r] of Object.entries(accept)) {
    if (r) next[p] = r;
    else delete next[p];
  }
  return next;
}
