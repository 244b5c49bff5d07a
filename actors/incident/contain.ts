// Containment steps against the other actors: each asks one op over the bus and reports done, skipped or failed (never throws).
import type { BusClient } from '../../bus/client.js';
import { serveOp } from '../../bus/op-ref.js';
import { ErrorCode, toErrorData } from '../../common/errors.js';
import type { ContainmentAction, IncidentContext, StepOutcome } from '../../machines/incident/manager.machine.js';
import { agentManifest, airlockManifest, authManifest, inferenceManifest, registryManifest, vaultManifest } from '../../runtime/catalog.js';

const ops = {
  lock: serveOp(vaultManifest, 'lock'),
  endSessions: serveOp(authManifest, 'end_sessions'),
  airlock: serveOp(airlockManifest, 'contain'),
  suspend: serveOp(registryManifest, 'suspend'),
  evict: serveOp(inferenceManifest, 'evict'),
  freeze: serveOp(agentManifest, 'freeze'),
};

/** A containment op's answer must come within this long, or the step fails (and the incident escalates). */
const STEP_TIMEOUT_MS = 10_000;

const reasonOf = (i: IncidentContext) => `incident ${i.id}: ${i.class} (${i.severity}): ${i.summary}`.slice(0, 512);

/**
 * Runs one step. An op that does not exist, that the bus refuses (no ACL entry yet), that times out or answers with
 * an error is a failed step with that error as its detail: the incident escalates, the actor never crashes.
 */
export async function containStep(bus: BusClient, action: ContainmentAction, incident: IncidentContext): Promise<StepOutcome> {
  const outcome = (status: StepOutcome['status'], detail: string): StepOutcome => ({ status, detail: detail.slice(0, 1024), at: Date.now() });
  const model = incident.target.model;
  try {
    switch (action) {
      case 'lock_vault':
        await bus.call(ops.lock, {}, STEP_TIMEOUT_MS);
        return outcome('done', 'vault locked');
      case 'end_sessions': {
        const r = await bus.call(ops.endSessions, { incidentId: incident.id, reason: reasonOf(incident) }, STEP_TIMEOUT_MS);
        return outcome('done', `${r.ended} web session(s) ended: every browser signs in again`);
      }
      case 'disable_airlock':
        await bus.call(ops.airlock, { incidentId: incident.id, reason: reasonOf(incident) }, STEP_TIMEOUT_MS);
        return outcome('done', 'airlock disabled until an operator runs `securectl airlock enable`');
      case 'suspend_model': {
        if (!model) return outcome('skipped', 'the incident names no model');
        const r = await bus.call(ops.suspend, { model, incidentId: incident.id, reason: reasonOf(incident) }, STEP_TIMEOUT_MS);
        return outcome('done', `model ${model} (sha256 ${r.sha256.slice(0, 16)}…)${r.already ? ' was already' : ''} suspended until \`securectl models unsuspend ${model}\``);
      }
      case 'evict_model': {
        if (!model) return outcome('skipped', 'the incident names no model');
        const r = await bus.call(ops.evict, { model, incidentId: incident.id, reason: reasonOf(incident) }, STEP_TIMEOUT_MS);
        return outcome('done', r.evicted.length ? `unloaded ${r.evicted.join(', ')} (${r.cancelled} generation(s) cut)` : `model ${model} was not loaded`);
      }
      case 'freeze_agent': {
        const r = await bus.call(ops.freeze, { incidentId: incident.id, reason: reasonOf(incident) }, STEP_TIMEOUT_MS);
        return outcome('done', r.frozen ? `${r.frozen} agent task(s) frozen` : 'no agent task was running');
      }
    }
  } catch (err) {
    const e = toErrorData(err);
    // A model the quarantine rejected never reached the registry: there are no stored bytes to suspend.
    if (action === 'suspend_model' && e.code === ErrorCode.MODEL_NOT_FOUND) return outcome('skipped', `model ${model ?? ''} is not in the registry: nothing to suspend`);
    return outcome('failed', `${e.code}: ${e.message}`);
  }
}
