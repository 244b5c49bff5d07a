// Incidents on disk: one signed JSON file each under SECAI_HOME/incidents/, written atomically; a file that does not verify is set aside and reported.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { INCIDENT_STATES, type IncidentContext, type IncidentState } from '../../machines/incident/manager.machine.js';
import { signBody, verifyBody, type IncidentKey } from './signing-key.js';

export interface StoredIncident { state: IncidentState; context: IncidentContext }
/** A file that could not be trusted: where it was moved and why. */
export interface RejectedFile { file: string; movedTo: string; reason: string }

const ID = /^[0-9a-z-]{8,64}$/;
export const isIncidentId = (id: string) => ID.test(id);
const fileOf = (dir: string, id: string) => join(dir, `${id}.json`);

/** Writes one incident (temp, fsync, rename, fsync the folder): a crash leaves the old version or the new one. */
export function saveIncident(dir: string, key: IncidentKey, rec: StoredIncident): void {
  if (!isIncidentId(rec.context.id)) throw new SecaiError(ErrorCode.INTERNAL, `bad incident id ${rec.context.id}`);
  const body = { v: 1, state: rec.state, context: rec.context };
  writeFileAtomic(fileOf(dir, rec.context.id), `${JSON.stringify({ ...body, sig: signBody(key.privateKey, body) })}\n`);
}

/** Reads and verifies one incident file; throws INCIDENT_TAMPERED naming what is wrong. */
export function readIncident(path: string, key: Pick<IncidentKey, 'publicKeyPem'>): StoredIncident {
  let doc: { v?: unknown; state?: unknown; context?: unknown; sig?: unknown };
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as typeof doc;
  } catch (err) {
    throw new SecaiError(ErrorCode.INCIDENT_TAMPERED, `${path}: not JSON (${(err as Error).message})`);
  }
  const { sig, ...body } = doc ?? {};
  if (typeof sig !== 'string' || !verifyBody(key.publicKeyPem, body, sig)) throw new SecaiError(ErrorCode.INCIDENT_TAMPERED, `${path}: the signature does not verify (edited, or not written by this appliance)`);
  const ctx = body.context as IncidentContext | undefined;
  if (body.v !== 1 || !INCIDENT_STATES.includes(body.state as IncidentState) || !ctx || typeof ctx.id !== 'string' || !Array.isArray(ctx.evidence) || !ctx.evidence.length) {
    throw new SecaiError(ErrorCode.INCIDENT_TAMPERED, `${path}: not an incident record`);
  }
  return { state: body.state as IncidentState, context: ctx };
}

export function readIncidentById(dir: string, key: Pick<IncidentKey, 'publicKeyPem'>, id: string): StoredIncident {
  if (!isIncidentId(id) || !existsSync(fileOf(dir, id))) throw new SecaiError(ErrorCode.INCIDENT_NOT_FOUND, `no incident ${id}`);
  return readIncident(fileOf(dir, id), key);
}

/**
 * Every incident on disk, verified. A file that does not verify is moved to `rejected/` (kept for the forensics, never
 * deleted) and returned in `rejected` for the actor to report: nothing is dropped silently.
 */
export function loadIncidents(dir: string, key: Pick<IncidentKey, 'publicKeyPem'>, now: number): { incidents: StoredIncident[]; rejected: RejectedFile[] } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const incidents: StoredIncident[] = [];
  const rejected: RejectedFile[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const path = join(dir, f);
    try {
      const rec = readIncident(path, key);
      if (`${rec.context.id}.json` !== f) throw new SecaiError(ErrorCode.INCIDENT_TAMPERED, `${path}: holds incident ${rec.context.id}, not ${f}`);
      incidents.push(rec);
    } catch (err) {
      const aside = join(dir, 'rejected');
      mkdirSync(aside, { recursive: true, mode: 0o700 });
      const movedTo = join(aside, `${f}.${now}`);
      renameSync(path, movedTo);
      rejected.push({ file: path, movedTo, reason: (err as Error).message.slice(0, 1024) });
    }
  }
  return { incidents, rejected };
}
