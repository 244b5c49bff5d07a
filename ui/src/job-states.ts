// Quarantine jobs on the Machines page: the job machines a quarantine snapshot carries, and each job's states as the page saw them.

/** One job as the page draws it: its machine's state value while it runs, its outcome once it ended. */
export interface JobView {
  id: string;
  name: string;
  /** The job machine's state value (`{ scanning: 'format' }`), or the final state name once it ended. */
  value: unknown;
  /** `scanning.format`, `promoted`: the state as one label. */
  label: string;
  running: boolean;
  /** Every state label the page saw this job in, in order, without repeats in a row. */
  seen: string[];
}

const MAX_JOBS = 8;
const MAX_SEEN = 32;

/** `{ scanning: 'format' }` → `scanning.format`; `promoted` → `promoted`. */
export function stateLabel(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    if (k !== undefined) return `${k}.${stateLabel(v)}`;
  }
  return '?';
}

const str = (v: unknown, max = 255): string | null => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);

/** The running job machines and the recently finished jobs in a quarantine snapshot's public context (anything malformed is skipped). */
export function jobsIn(context: Record<string, unknown> | undefined): { running: { id: string; name: string; value: unknown }[]; finished: { id: string; name: string; state: string }[] } {
  const running: { id: string; name: string; value: unknown }[] = [];
  const finished: { id: string; name: string; state: string }[] = [];
  for (const c of Array.isArray(context?.['children']) ? (context['children'] as unknown[]) : []) {
    const o = c as { id?: unknown; value?: unknown; context?: { machine?: unknown; name?: unknown } };
    const id = str(o?.id, 64);
    if (!id || o.context?.machine !== 'job' || o.value === undefined) continue;
    running.push({ id, name: str(o.context.name) ?? id, value: o.value });
  }
  for (const f of Array.isArray(context?.['finished']) ? (context['finished'] as unknown[]) : []) {
    const o = f as { id?: unknown; name?: unknown; state?: unknown };
    const id = str(o?.id, 64);
    const state = str(o?.state, 32);
    if (id && state) finished.push({ id, name: str(o.name) ?? id, state });
  }
  return { running, finished };
}

/**
 * The page's jobs after one more quarantine snapshot: running jobs take their machine's state, a job that ended
 * takes its outcome (its machine is gone), and each keeps the states it was seen in. The newest jobs are kept.
 */
export function nextJobs(prev: readonly JobView[], context: Record<string, unknown> | undefined): JobView[] {
  const { running, finished } = jobsIn(context);
  const byId = new Map(prev.map((j) => [j.id, j]));
  const see = (id: string, name: string, value: unknown, isRunning: boolean) => {
    const old = byId.get(id);
    const label = stateLabel(value);
    const seen = old ? (old.seen[old.seen.length - 1] === label ? old.seen : [...old.seen, label].slice(-MAX_SEEN)) : [label];
    byId.set(id, { id, name, value, label, running: isRunning, seen });
  };
  for (const j of running) see(j.id, j.name, j.value, true);
  // Only jobs this page watched run are ended here: an old report is not news.
  for (const f of finished) if (byId.get(f.id)?.running) see(f.id, f.name, f.state, false);
  return [...byId.values()].slice(-MAX_JOBS);
}
