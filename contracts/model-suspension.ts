// A registry model's suspension (an incident's containment, cleared only by a signed operator unsuspend) and the
// requests the incident actor sends to contain a model: the registry lists it, inference and the gateway read it.
import { s } from '../bus/schema.js';
import { sha256 } from './registry-entry.js';

export { suspension } from './registry-entry.js';

/** A model named by its registry name or its SHA-256 (a suspension holds the bytes, so every name of them). */
export const modelRef = s.string({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });
const incidentId = s.string({ minLength: 1, maxLength: 128 });
const reason = s.string({ minLength: 1, maxLength: 512 });

/** The incident actor's containment request (registry.suspend and inference.evict take the same). */
export const containModelRequest = s.object({ model: modelRef, incidentId, reason });

export const suspendReply = s.object({ sha256, names: s.array(s.string({ maxLength: 128 }), 64), already: s.boolean() });
export const evictReply = s.object({ evicted: s.array(s.string({ maxLength: 128 }), 64), cancelled: s.integer({ minimum: 0 }) });
