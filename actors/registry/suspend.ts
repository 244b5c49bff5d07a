// Suspend and unsuspend as effects of the registry machine: which bytes a name means, the signed record rewritten, the event.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { ApplianceKey } from '../../common/appliance-key.js';
import type { MarkResult, SuspendedModel, Suspensions } from '../../machines/registry/registry.machine.js';
import { findEntry, type Registry, type RegistryEntry } from './store.js';
import { writeSuspensions, type SuspensionFiles } from './suspensions.js';

const SHA = /^[0-9a-f]{64}$/;

export interface MarkDeps {
  store: Registry;
  key: ApplianceKey;
  /** The record's folder (the registry's) and its anchor in keys/. */
  files: SuspensionFiles;
  /** Publishes a registry event (never rejects: the record on disk is already written, a failure is logged and counted). */
  emit: (event: 'suspended' | 'unsuspended', payload: Record<string, unknown>) => Promise<unknown>;
}

/** The bytes a name or a SHA-256 means: a suspension holds them, whatever name they are imported under. */
function bytesOf(entries: readonly RegistryEntry[], model: string): { sha256: string; names: string[] } {
  const e = findEntry(entries, model);
  const sha256 = e?.sha256 ?? (SHA.test(model) ? model : undefined);
  if (!sha256) throw new SecaiError(ErrorCode.MODEL_NOT_FOUND, `no model '${model}' in the registry`);
  return { sha256, names: entries.filter((x) => x.sha256 === sha256).map((x) => x.name).slice(0, 64) };
}

/**
 * The suspension of these bytes now in force, if any. A record that did not verify suspends every model: the
 * registry cannot tell which suspensions someone removed.
 */
export function suspensionOf(s: Suspensions, sha256: string): Omit<SuspendedModel, 'sha256' | 'names'> | undefined {
  if (s.untrusted) return { by: 'unknown', reason: untrustedReason(s.untrusted), at: 0 };
  const r = s.records.find((x) => x.sha256 === sha256);
  return r && { by: r.by, reason: r.reason, at: r.at };
}

const untrustedReason = (why: string) => `the suspension record did not verify (${why}): every model is suspended until an operator clears it`.slice(0, 1024);

/** The records to build on: the trusted ones, or (untrusted record) one per stored model, so clearing one keeps the rest. */
function baseOf(s: Suspensions, entries: readonly RegistryEntry[]): SuspendedModel[] {
  if (!s.untrusted) return s.records;
  const at = Date.now();
  const shas = [...new Set(entries.map((e) => e.sha256))];
  return shas.map((sha256) => ({ sha256, names: entries.filter((e) => e.sha256 === sha256).map((e) => e.name).slice(0, 64), by: 'unknown', reason: untrustedReason(s.untrusted!), at }));
}

/** The incident's containment: written (signed) before it is answered, so a crash right after still leaves it suspended. */
export async function suspend(d: MarkDeps, s: Suspensions, req: { model: string; incidentId: string; reason: string }): Promise<MarkResult> {
  const entries = await d.store.entries();
  const { sha256, names } = bytesOf(entries, req.model);
  const base = baseOf(s, entries);
  const held = base.find((x) => x.sha256 === sha256);
  const records = held ? base : [...base, { sha256, names, by: req.incidentId, reason: req.reason, at: Date.now() }];
  if (!held || s.untrusted) await writeSuspensions(d.files, d.key, records, s.seq + 1);
  const next: Suspensions = { records, seq: !held || s.untrusted ? s.seq + 1 : s.seq, untrusted: null };
  if (!held) {
    const r = records[records.length - 1]!;
    await d.emit('suspended', { sha256, names, by: r.by, reason: r.reason, at: r.at });
  }
  return { reply: { sha256, names, already: Boolean(held) }, suspensions: next };
}

/** The signed operator command: only it clears a suspension (and, one model at a time, an untrusted record). */
export async function unsuspend(d: MarkDeps, s: Suspensions, req: { model: string; keyId: string }): Promise<MarkResult> {
  const entries = await d.store.entries();
  const { sha256, names } = bytesOf(entries, req.model);
  const base = baseOf(s, entries);
  const held = base.find((x) => x.sha256 === sha256);
  if (!held) throw new SecaiError(ErrorCode.INVALID_STATE, `model '${req.model}' is not suspended`);
  const records = base.filter((x) => x !== held);
  await writeSuspensions(d.files, d.key, records, s.seq + 1);
  await d.emit('unsuspended', { sha256, names, by: req.keyId, incidentId: held.by, reason: held.reason, at: Date.now() });
  return {
    reply: { sha256, names, wasSuspendedBy: { by: held.by, reason: held.reason, at: held.at } },
    suspensions: { records, seq: s.seq + 1, untrusted: null },
  };
}
