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

const pingReply = s.object({ actor: s.string({ maxLength: 64 }), pid: s.integer(), uptimeMs: s.number(), state: s.any() });

export const STANDARD_SERVES: Record<string, OpSpec> = {
  ping: { request: s.empty(), reply: pingReply, description: 'Liveness: pid, uptime and current state value.' },
  describe: {
    request: s.empty(),
    reply: s.object({ actor: s.string({ maxLength: 64 }), machine: s.record(), graph: s.record() }),
    description: 'The machine definition (XState JSON) and its directed graph, for the visualizer.',
  },
  snapshot: { request: s.empty(), reply: snapshotSchema, description: 'The latest snapshot as published on secai.state.<actor>.' },
};

export const STANDARD_COMMANDS: Record<string, CommandSpec> = {
  ping: { request: s.empty(), reply: pingReply, description: 'Signed liveness check.', roles: ['admin', 'auditor'] },
};

export const STANDARD_EVENTS = {
  command_rejected: s.object({
    subject: s.string({ maxLength: 256 }),
    code: s.string({ maxLength: 64 }),
    reason: s.string({ maxLength: 512 }),
    keyId: s.string({ maxLength: 128 }),
    nonce: s.string({ maxLength: 128 }),
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
