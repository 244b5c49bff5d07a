// Retention of rejected artifacts: payloads are dropped, oldest first, past the policy's count, bytes and
// age; the report (stage results, hashes, reasons) stays, so the evidence outlives the file.
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface RetentionPolicy {
  /** Payloads kept at most (0: none). */
  max_rejected: number;
  /** Their bytes together at most. */
  max_rejected_bytes: number;
  /** A payload older than this many days is dropped (0: at once). */
  max_age_days: number;
}

export interface RejectedPayload {
  id: string;
  /** When the job finished (ISO), the order payloads are dropped in. */
  finishedAt: string;
  bytes: number;
}

/** The ids whose payloads go, oldest first: past the age, then beyond the count, then beyond the bytes. */
export function planRetention(entries: readonly RejectedPayload[], p: RetentionPolicy, now: number): string[] {
  const newestFirst = [...entries].sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt) || (a.id < b.id ? 1 : -1));
  const drop: string[] = [];
  let kept = 0;
  let bytes = 0;
  for (const e of newestFirst) {
    const age = now - Date.parse(e.finishedAt);
    const tooOld = !(age < p.max_age_days * 86_400_000);
    if (tooOld || kept + 1 > p.max_rejected || bytes + e.bytes > p.max_rejected_bytes) {
      drop.push(e.id);
      continue;
    }
    kept++;
    bytes += e.bytes;
  }
  return drop.reverse();
}

/** Bytes under `dir` except its report.json, counted without following links. */
export function payloadBytes(dir: string): number {
  let total = 0;
  const walk = (d: string, depth: number): void => {
    if (depth > 64) return;
    for (const name of readdirSync(d)) {
      if (depth === 0 && name === 'report.json') continue;
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p, depth + 1);
      else total += st.size;
    }
  };
  walk(dir, 0);
  return total;
}

/** Removes everything in a rejected artifact's folder but its report; returns the bytes freed. */
export function dropPayload(dir: string): number {
  const bytes = payloadBytes(dir);
  for (const name of readdirSync(dir)) if (name !== 'report.json') rmSync(join(dir, name), { recursive: true, force: true });
  return bytes;
}
