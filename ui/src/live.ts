// One event stream per tab: live state snapshots and audit records from GET /api/events, fanned out to pages.
// A fetch stream, not EventSource: EventSource cannot send the session proof header, and the cookie alone opens nothing.

import { notifyUnauthorized, sessionHeaders } from './api.js';
import type { AuditRecord, Snapshot } from './types.js';

export type { AuditRecord, Snapshot } from './types.js';

/** `gap`: a burst larger than one tail skipped these audit records (the gateway says so rather than hide it). */
type Listener = { state?: (s: Snapshot) => void; audit?: (r: AuditRecord) => void; gap?: (g: { from: number; to: number }) => void; status?: (connected: boolean) => void };

const listeners = new Set<Listener>();
let stream: AbortController | undefined;
let connected = false;
/** Recent records, so a page opened later still sees what just happened. */
export const recentAudit: AuditRecord[] = [];
export const recentStates: Snapshot[] = [];
const KEEP = 500;
/** Reconnect delays, as EventSource would retry: short at first, then every few seconds. */
const RETRY_MS = [500, 1000, 2000, 5000] as const;

function keep<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
}

function setConnected(v: boolean): void {
  connected = v;
  listeners.forEach((l) => l.status?.(v));
}

function dispatch(event: string, data: string): void {
  if (event === 'state') {
    const s = JSON.parse(data) as Snapshot;
    keep(recentStates, s);
    listeners.forEach((l) => l.state?.(s));
  } else if (event === 'gap') {
    const g = JSON.parse(data) as { from: number; to: number };
    listeners.forEach((l) => l.gap?.(g));
  } else if (event === 'audit') {
    const r = JSON.parse(data) as AuditRecord;
    if (recentAudit.length && recentAudit[recentAudit.length - 1]!.seq >= r.seq) return;
    keep(recentAudit, r);
    listeners.forEach((l) => l.audit?.(r));
  }
}

/** Splits a text/event-stream into (event, data) blocks as they arrive (comments and ids ignored). */
export function blocks(text: string, onBlock: (event: string, data: string) => void): string {
  let rest = text;
  for (let m = /\r?\n\r?\n/.exec(rest); m; m = /\r?\n\r?\n/.exec(rest)) {
    const block = rest.slice(0, m.index);
    rest = rest.slice(m.index + m[0].length);
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length) onBlock(event, data.join('\n'));
  }
  return rest;
}

async function run(ctl: AbortController): Promise<void> {
  for (let attempt = 0; !ctl.signal.aborted; attempt++) {
    try {
      const r = await fetch('/api/events', { headers: { accept: 'text/event-stream', ...sessionHeaders() }, credentials: 'same-origin', signal: ctl.signal });
      if (r.status === 401 || r.status === 403) { setConnected(false); notifyUnauthorized(); return; }
      if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
      attempt = 0;
      setConnected(true);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const arrived: [string, string][] = [];
        buf = blocks(buf + value, (event, data) => arrived.push([event, data]));
        for (const [event, data] of arrived) {
          try { dispatch(event, data); } catch { /* lint-ok: one bad record does not end the stream */ }
          // One task per event, as EventSource dispatches: pages render each step, not only the last of a burst.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    } catch {
      // lint-ok: the stream broke (gateway restart, network): retried below unless we closed it.
    }
    if (ctl.signal.aborted) return;
    setConnected(false);
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
  }
}

function open(): void {
  if (stream) return;
  const ctl = new AbortController();
  stream = ctl;
  void run(ctl);
}

export function subscribeLive(l: Listener): () => void {
  open();
  listeners.add(l);
  l.status?.(connected);
  return () => { listeners.delete(l); };
}

/** Closes the stream (on logout): the next subscriber opens a fresh one under the new session. */
export function closeLive(): void {
  stream?.abort();
  stream = undefined;
  connected = false;
  recentAudit.length = 0;
  recentStates.length = 0;
}
