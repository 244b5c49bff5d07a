// The root supervisor's bus identity: it owns the streams, watches every actor's state and reports status.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { snapshotSchema } from '../../bus/standard-ops.js';

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
    unpublishedEvents: s.integer({ minimum: 0 }),
    /** The supervisor's slot machine state: starting, ready, unresponsive, backoff, failed, stopped. */
    slot: s.string({ maxLength: 32 }),
    /** Why the slot last left `ready` (empty while it never did). */
    reason: s.string({ maxLength: 256 }),
  },
);

/** The appliance's aggregate health: what /api/health and `secai status` report. */
export const healthReply = s.object({
  ok: s.boolean(),
  state: s.string({ enum: ['ok', 'degraded', 'degraded_storage'] }),
  reasons: s.array(s.string({ maxLength: 256 }), 64),
  storage: s.object({ state: s.string({ enum: ['ok', 'degraded_storage'] }), freeMb: s.number(), minFreeMb: s.number() }),
});

export const statusReply = s.object({
  appliance: s.object({
    pid: s.integer(), uptimeMs: s.number(), home: s.string(), headless: s.boolean(), version: s.string({ maxLength: 32 }),
    bus: s.object({ url: s.string({ maxLength: 64 }), pid: s.integer(), restarts: s.integer({ minimum: 0 }), responsive: s.boolean() }),
    unpublishedEvents: s.integer({ minimum: 0 }),
  }),
  health: healthReply,
  actors: s.array(actorStatus, 64),
});

const lifecycle = s.object({ name: s.string({ maxLength: 64 }), pid: s.integer(), restarts: s.integer({ minimum: 0 }), reason: s.string({ maxLength: 256 }) });

export const supervisorManifest = defineManifest({
  name: 'supervisor',
  kind: 'supervisor',
  description: 'Starts the bus and every actor, restarts what dies, and answers for the whole appliance.',
  serves: {
    status: { request: s.empty(), reply: statusReply, description: 'Every actor: pid, state, restarts, uptime.' },
    health: { request: s.empty(), reply: healthReply, description: 'Aggregate health: ok, or degraded with the reasons (an unresponsive or failed actor, a hung bus, storage below its threshold).' },
    describe: {
      request: s.empty(),
      reply: s.object({ actor: s.string({ maxLength: 64 }), machine: s.record(), graph: s.record() }),
      description: 'The supervision chart (one slot machine region per actor), for the visualizer.',
    },
    snapshot: { request: s.empty(), reply: snapshotSchema, description: 'Every slot\'s state, as published on secai.state.supervisor.' },
  },
  commands: {
    status: { request: s.empty(), reply: statusReply, description: 'Signed status (securectl status).', roles: ['admin', 'auditor'] },
  },
  publishes: {
    actor_started: lifecycle,
    actor_exited: lifecycle,
    bus_restarted: lifecycle,
    /** An actor (or the bus) left three heartbeats unanswered: it is killed and restarted with backoff. */
    actor_unresponsive: lifecycle,
    /** An actor kept dying quickly: the supervisor gave up on it (health reports it until the appliance restarts). */
    actor_failed: lifecycle,
    /** Free space under SECAI_HOME fell below the threshold: imports and uploads are refused. */
    storage_degraded: s.object({ freeMb: s.number(), minFreeMb: s.number() }),
    storage_recovered: s.object({ freeMb: s.number(), minFreeMb: s.number() }),
    /**
     * nats-server refused an identity a publish or a subscription its ACL does not allow (a stolen or misbehaving
     * identity): read from the server's log; once per identity+subject+kind per window, `count` since the last.
     */
    permission_violation: s.object({
      identity: s.string({ maxLength: 64 }), subject: s.string({ maxLength: 256 }), kind: s.string({ enum: ['publish', 'subscribe'] }),
      at: s.number(), count: s.integer({ minimum: 1 }),
    }),
    appliance_ready: s.object({ actors: s.integer(), startMs: s.number(), pid: s.integer() }),
    appliance_stopping: s.object({ reason: s.string({ maxLength: 256 }) }),
    command_rejected: s.object({
      subject: s.string({ maxLength: 256 }), code: s.string({ maxLength: 64 }), reason: s.string({ maxLength: 512 }),
      keyId: s.string({ maxLength: 128 }), nonce: s.string({ maxLength: 128 }), caller: s.string({ maxLength: 64 }),
    }),
    command_accepted: s.object({ subject: s.string({ maxLength: 256 }), keyId: s.string({ maxLength: 128 }), nonce: s.string({ maxLength: 128 }) }),
  },
  // Each actor's standard ping, over the bus: its connection carries requests, not only its loop turns (slot-runner.ts busPing).
  requests: ['*.ping'],
  subscribes: [],
  watchesState: true,
  jetstream: { admin: true },
});
