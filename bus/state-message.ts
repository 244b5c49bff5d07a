// Reading secai.state.<actor>: a snapshot is believed only if it is well formed and names the actor whose
// subject it came on (the ACL lets only that actor publish there); garbage is dropped, never shown.
import { decode } from './codec.js';
import { check } from './schema.js';
import { snapshotSchema } from './standard-ops.js';
import { isToken } from './subjects.js';
import { ErrorCode, SecaiError } from '../common/errors.js';

export interface StateMessage {
  actor: string;
  value: StateValue;
  status: string;
  event: string;
  seq: number;
  at: number;
  context?: Record<string, unknown>;
}

/** An XState state value: a state name, or nested regions of them. */
export type StateValue = string | { [region: string]: StateValue };

const STATUSES = new Set(['active', 'done', 'error', 'stopped']);

function isStateValue(v: unknown, depth = 0): v is StateValue {
  if (typeof v === 'string') return v.length > 0 && v.length <= 128;
  if (!v || typeof v !== 'object' || Array.isArray(v) || depth >= 8) return false;
  const entries = Object.entries(v);
  return entries.length > 0 && entries.length <= 64 && entries.every(([k, x]) => k.length > 0 && k.length <= 128 && isStateValue(x, depth + 1));
}

/** Decodes and checks a state message received on `subject`; throws SECAI_E_BAD_MESSAGE for anything else. */
export function parseStateMessage(subject: string, data: Uint8Array, maxBytes = 256 * 1024): StateMessage {
  const actor = subject.startsWith('secai.state.') ? subject.slice('secai.state.'.length) : '';
  if (!isToken(actor)) throw new SecaiError(ErrorCode.BAD_MESSAGE, `not a state subject: ${subject}`);
  const snap = check<StateMessage>(snapshotSchema, decode(data, maxBytes), `state of ${actor}`);
  if (snap.actor !== actor) throw new SecaiError(ErrorCode.BAD_MESSAGE, `a snapshot naming '${snap.actor}' arrived on the subject of '${actor}'`);
  if (!isStateValue(snap.value)) throw new SecaiError(ErrorCode.BAD_MESSAGE, `state of ${actor}: value is not a state value`);
  if (!STATUSES.has(snap.status)) throw new SecaiError(ErrorCode.BAD_MESSAGE, `state of ${actor}: unknown status '${snap.status}'`);
  return snap;
}
