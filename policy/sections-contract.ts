// The bus contract of policy sections: the `policy.section` op and the `policy.reloaded` event, shared by the
// policy actor (which serves and publishes them) and every actor that applies a section (runtime/config-section.ts).
import { s } from '../bus/schema.js';
import { SECTION_NAMES } from './sections.js';

const digest = s.string({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$' });
export const sectionName = s.string({ enum: SECTION_NAMES, maxLength: 32 });

export const sectionRequest = s.object({ name: sectionName });
/** `value` is checked again by the receiver against the section's own JSON Schema (policy/schemas/policy/). */
export const sectionReply = s.object({ name: sectionName, digest, value: s.record(), policyDigest: s.string({ maxLength: 64 }) });

/** A changed key that takes effect only after a restart, and why (policy/sections.ts DEFERRED_KEYS). */
export const restartNote = s.object({ section: sectionName, keys: s.array(s.string({ maxLength: 64 }), 64), reason: s.string({ maxLength: 512 }) });

export const reloadedEvent = s.object({
  digest: s.string({ maxLength: 64 }), previous: s.string({ maxLength: 64 }), path: s.string({ maxLength: 4096 }),
  /** Sections whose digest changed: only their owners refetch. */
  changed: s.array(sectionName, SECTION_NAMES.length),
  restart: s.array(restartNote, SECTION_NAMES.length),
});

export const reloadReply = s.object({
  digest: s.string({ maxLength: 64 }), previous: s.string({ maxLength: 64 }), changed: s.boolean(),
  sections: s.array(sectionName, SECTION_NAMES.length),
  restart: s.array(restartNote, SECTION_NAMES.length),
});

export interface ReloadedEvent {
  digest: string;
  previous: string;
  path: string;
  changed: string[];
  restart: { section: string; keys: string[]; reason: string }[];
}
