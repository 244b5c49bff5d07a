// The root supervisor's bus identity: it owns the streams, watches every actor's state and reports status.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

const actorStatus = s.object(
  {
    name: s.string({ maxLength: 64 }),
    pid: s.integer(),
    running: s.boolean(),
    ready: s.boolean(),
    restarts: s.integer({ minimum: 0 }),
    uptimeMs: s.number(),
    state: s.any(),
    status: s.string({ maxLength: 32 }),
    lastEvent: s.string({ maxLength: 128 }),
  },
);

export const statusReply = s.object({
  appliance: s.object({
    pid: s.integer(), uptimeMs: s.number(), home: s.string(), headless: s.boolean(), version: s.string({ maxLength: 32 }),
    bus: s.object({ url: s.string({ maxLength: 64 }), pid: s.integer(), restarts: s.integer({ minimum: 0 }) }),
  }),
  actors: s.array(actorStatus, 64),
});

const lifecycle = s.object({ name: s.string({ maxLength: 64 }), pid: s.integer(), restarts: s.integer({ minimum: 0 }), reason: s.string({ maxLength: 256 }) });

export const supervisorManifest = defineManifest({
  name: 'supervisor',
  kind: 'supervisor',
  description: 'Starts the bus and every actor, restarts what dies, and answers for the whole appliance.',
  serves: {
    status: { request: s.empty(), reply: statusReply, description: 'Every actor: pid, state, restarts, uptime.' },
  },
  commands: {
    status: { request: s.empty(), reply: statusReply, description: 'Signed status (securectl status).', roles: ['admin', 'auditor'] },
  },
  publishes: {
    actor_started: lifecycle,
    actor_exited: lifecycle,
    bus_restarted: lifecycle,
    appliance_ready: s.object({ actors: s.integer(), startMs: s.number(), pid: s.integer() }),
    appliance_stopping: s.object({ reason: s.string({ maxLength: 256 }) }),
    command_rejected: s.object({
      subject: s.string({ maxLength: 256 }), code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 512 }),
      keyId: s.string({ maxLength: 128 }), nonce: s.string({ maxLength: 128 }),
    }),
    command_accepted: s.object({ subject: s.string({ maxLength: 256 }), keyId: s.string({ maxLength: 128 }), nonce: s.string({ maxLength: 128 }) }),
  },
  requests: [],
  subscribes: [],
  watchesState: true,
  jetstream: { admin: true },
});
