// Dropping rejected payloads (retention policy or the operator): the bytes go, the reports stay and say so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { HomePaths } from '../../common/paths.js';
import { dropPayload, payloadBytes, type RejectedPayload } from './retention.js';
import { dirs, persist, type Report } from './reports.js';

export interface PurgeDeps {
  paths: HomePaths;
  log: Logger;
  emit(event: string, payload: unknown): Promise<void>;
  /** The reports as the machine holds them now. */
  reports(): Map<string, Report>;
  /** Tells the machine a payload was dropped (the report keeps when, how much, by whom). */
  purged(id: string, purged: { at: string; bytes: number; by: string }): void;
}

/** Rejected jobs whose payload is still on disk. */
export function rejectedPayloads(d: Pick<PurgeDeps, 'paths' | 'reports'>): RejectedPayload[] {
  const out: RejectedPayload[] = [];
  for (const r of d.reports().values()) {
    const dir = join(dirs(d).rejected, r.id);
    if (r.state !== 'rejected' || r.purged || !existsSync(dir)) continue;
    out.push({ id: r.id, finishedAt: r.finishedAt ?? r.queuedAt, bytes: payloadBytes(dir) });
  }
  return out;
}

/** Drops the payloads of these rejected jobs, keeps and marks their reports, and says so in the audit chain. */
export async function purge(d: PurgeDeps, ids: readonly string[], by: string): Promise<{ purged: { id: string; bytes: number }[]; freedBytes: number }> {
  const purged: { id: string; bytes: number }[] = [];
  const reports = d.reports();
  for (const id of ids) {
    const r = reports.get(id);
    const dir = join(dirs(d).rejected, id);
    if (!r || r.state !== 'rejected' || r.purged || !existsSync(dir)) continue;
    try {
      const bytes = dropPayload(dir);
      const mark = { at: new Date().toISOString(), bytes, by };
      const marked = { ...r, purged: mark };
      writeFileAtomic(join(dir, 'report.json'), JSON.stringify(marked, null, 2) + '\n', 0o600);
      persist(d, marked);
      d.purged(id, mark);
      purged.push({ id, bytes });
    } catch (err) {
      d.log.error({ id, err: (err as Error).message }, 'could not drop a rejected payload');
    }
  }
  const freedBytes = purged.reduce((n, p) => n + p.bytes, 0);
  if (purged.length) {
    d.log.info({ ids: purged.map((p) => p.id), freedBytes, by }, 'rejected payloads dropped; their reports stay');
    await d.emit('purged', { ids: purged.map((p) => p.id), freedBytes, by: by.slice(0, 256) });
  }
  return { purged, freedBytes };
}

/** `securectl models purge [id]`: one rejected payload, or every one. */
export function purgeCommand(d: PurgeDeps, req: { id?: string }, by: string) {
  if (req.id === undefined) return purge(d, rejectedPayloads(d).map((p) => p.id), by);
  const r = d.reports().get(req.id);
  if (!r) throw new SecaiError(ErrorCode.JOB_NOT_FOUND, `no quarantine job '${req.id}'`);
  if (r.state !== 'rejected') throw new SecaiError(ErrorCode.INVALID_STATE, `job ${req.id} is ${r.state}: only a rejected artifact's payload can be purged`);
  if (r.purged) throw new SecaiError(ErrorCode.INVALID_STATE, `job ${req.id}: its payload was already dropped (${r.purged.at}, ${r.purged.by})`);
  return purge(d, [req.id], by);
}
