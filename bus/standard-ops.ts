// Ops and events every actor process has, whatever its manifest says: ping, describe, snapshot, rejections.
import type { ActorManifest, CommandSpec, OpSpec } from './manifest.js';
import { s } from './schema.js';

export const snapshotSchema = s.object(
  {
    actor: s.string({ maxLength: 64 }),
    value: s.any(),
    status: s.string({ maxLength: 32 }),
    event: s.string({ maxLength: 128 }),
    seq: s.integer({ minimum: 0 }),
    at: s.integer({ minimum: 0 }),
    context: s.record(),
  },
  ['context'],
);

// unpublishedEvents: events this process failed to publish since it started (logged, never swallowed).
// `sections`: the digest of each policy section this process applies (runtime/config-section.ts), to see a reload land.
const pingReply = s.object({
  actor: s.string({ maxLength: 64 }), pid: s.integer(), uptimeMs: s.number(), state: s.any(), unpublishedEvents: s.integer({ minimum: 0 }), sections: s.record(),
}, ['sections']);

export const STANDARD_SERVES = {
  ping: { request: s.empty(), reply: pingReply, description: 'Liveness: pid, uptime and current state value.' },
  describe: {
    request: s.empty(),
    reply: s.object({ actor: s.string({ maxLength: 64 }), machine: s.record(), graph: s.record(), children: s.record() }, ['children']),
    description: 'The machine definition (XState JSON) and its directed graph, for the visualizer; `children`: the same for each kind of machine it spawns.',
  },
  snapshot: { request: s.empty(), reply: snapshotSchema, description: 'The latest snapshot as published on secai.state.<actor>.' },
} satisfies Record<string, OpSpec>;

export const STANDARD_COMMANDS = {
  ping: { request: s.empty(), reply: pingReply, description: 'Signed liveness check.', roles: ['admin', 'auditor'] },
} satisfies Record<string, CommandSpec>;

export const STANDARD_EVENTS = {
  command_rejected: s.object({
    subject: s.string({ maxLength: 256 }),
    code: s.string({ maxLength: 64 }),
    reason: s.string({ maxLength: 512 }),
    keyId: s.string({ maxLength: 128 }),
    nonce: s.string({ maxLength: 128 }),
    /** The bus identity whose inbox the reply went to (cli for securectl): where a forged or replayed command came from. */
    caller: s.string({ maxLength: 64 }),
  }),
  command_accepted: s.object({
    subject: s.string({ maxLength: 256 }),
    keyId: s.string({ maxLength: 128 }),
    nonce: s.string({ maxLength: 128 }),
  }),
};

/** The manifest as the bus enforces it: an actor's own declarations plus the standard ones. */
export function effectiveManifest(m: ActorManifest): ActorManifest {
  if (m.kind !== 'actor') return m;
  return {
    ...m,
    serves: { ...STANDARD_SERVES, ...m.serves },
    commands: { ...STANDARD_COMMANDS, ...m.commands },
    publishes: { ...STANDARD_EVENTS, ...m.publishes },
  };
}
