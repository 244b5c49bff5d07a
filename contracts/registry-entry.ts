// A promoted model's registry entry and name: the registry serves them, the auth actor and the gateway check against them.
import { s } from '../bus/schema.js';

/** A registry name (exported: the gateway refuses anything else before it asks). */
export const registryName = s.string({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });
export const sha256 = s.string({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$' });
/** One quarantine stage's result as the registry keeps it. */
export const stage = s.object({ stage: s.string({ maxLength: 32 }), verdict: s.string({ maxLength: 8 }), reason: s.string({ maxLength: 4096 }) });
const entryFields = {
  name: registryName, sha256, size: s.integer({ minimum: 0 }), kind: s.string({ enum: ['file', 'folder'] }), format: s.string({ maxLength: 64 }),
  merkleRoot: s.nullable(s.string({ maxLength: 64 })), path: s.string({ maxLength: 512 }), stages: s.array(stage, 16), jobId: s.string({ maxLength: 64 }), promotedAt: s.string({ maxLength: 64 }),
};
export const registryEntry = s.object(entryFields);
/** Why a model is suspended: the incident that asked (`unknown` when the suspension record itself did not verify), why, when. */
export const suspension = s.object({ by: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }), at: s.number() });
/** An entry as listings show it: `suspended` while an incident's suspension holds (refused at load until an operator clears it). */
export const listedEntry = s.object({ ...entryFields, suspended: suspension }, ['suspended']);
