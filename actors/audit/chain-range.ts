// The chain's records in a time span, read from chain.jsonl as a stream (the loop keeps serving), a page at a time.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { AuditRecord } from './audit-chain.js';

export interface RangeQuery {
  /** Records with since ≤ at ≤ until (ms since the epoch). */
  since: number;
  until: number;
  /** Only records after this sequence number: the `next` of the previous page. */
  after: number;
  limit: number;
}

export interface RangePage {
  records: AuditRecord[];
  /** The sequence number to ask `after` for the next page; null when this page reached the end of the chain. */
  next: number | null;
}

/**
 * Reads the chain file from the start and returns up to `limit` records of the span. A line that does not parse (the
 * writer's torn last line, which the next open trims) is skipped: this reads, the verifier judges.
 */
export async function readRange(file: string, q: RangeQuery): Promise<RangePage> {
  const records: AuditRecord[] = [];
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (!line) continue;
      let r: AuditRecord;
      try { r = JSON.parse(line) as AuditRecord; } catch { continue; }
      if (typeof r.seq !== 'number' || typeof r.at !== 'number' || r.seq <= q.after || r.at < q.since || r.at > q.until) continue;
      if (records.length === q.limit) return { records, next: records[records.length - 1]!.seq };
      records.push(r);
    }
  } finally {
    lines.close();
  }
  return { records, next: null };
}
