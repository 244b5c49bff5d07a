// One EventSource per tab: live state snapshots and audit records from GET /api/events, fanned out to pages.

import type { AuditRecord, Snapshot } from './types.js';

export type { AuditRecord, Snapshot } from './types.js';

/** `gap`: a burst larger than one tail skipped these audit records (the gateway says so rather than hide it). */
type Listener = { state?: (s: Snapshot) => void; audit?: (r: AuditRecord) => void; gap?: (g: { from: number; to: number }) => void; status?: (connected: boolean) => void };

const listeners = new Set<Listener>();
let source: EventSource | undefined;
let connected = false;
/** Recent records, so a page opened later still sees what just happened. */
export const recentAudit: AuditRecord[] = [];
export const recentStates: Snapshot[] = [];
const KEEP = 500;

function keep<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
}

function open(): void {
  if (source) return;
  source = new EventSource('/api/events');
  source.addEventListener('open', () => { connected = true; listeners.forEach((l) => l.status?.(true)); });
  source.addEventListener('error', () => { connected = false; listeners.forEach((l) => l.status?.(false)); });
  source.addEventListener('state', (e) => {
    const s = JSON.parse((e as MessageEvent<string>).data) as Snapshot;
    keep(recentStates, s);
    listeners.forEach((l) => l.state?.(s));
  });
  source.addEventListener('gap', (e) => {
    const g = JSON.parse((e as MessageEvent<string>).data) as { from: number; to: number };
    listeners.forEach((l) => l.gap?.(g));
  });
  source.addEventListener('audit', (e) => {
    const r = JSON.parse((e as MessageEvent<string>).data) as AuditRecord;
    if (recentAudit.length && recentAudit[recentAudit.length - 1]!.seq >= r.seq) return;
    keep(recentAudit, r);
    listeners.forEach((l) => l.audit?.(r));
  });
}

export function subscribeLive(l: Listener): () => void {
  open();
  listeners.add(l);
  l.status?.(connected);
  return () => { listeners.delete(l); };
}

/** Closes the stream (on logout): the next subscriber opens a fresh one under the new session. */
export function closeLive(): void {
  source?.close();
  source = undefined;
  connected = false;
  recentAudit.length = 0;
  recentStates.length = 0;
}
