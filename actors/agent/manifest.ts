// The agent's bus contract: tasks run by signed command, read by the gateway, frozen by the incident actor.
import { defineManifest } from '../../bus/manifest.js';
import { s, type Static } from '../../bus/schema.js';
import { AGENT_MODES } from '../../machines/agent-plan/agent-plan.machine.js';
import { AGENT_TASK_STATES, agentIntentHash, agentPlanId, agentStep, agentTransition, webSession } from '../../contracts/agent-web.js';

const hash = s.string({ pattern: '^[0-9a-f]{64}$' });
const planId = s.string({ minLength: 1, maxLength: 64, pattern: '^plan-[A-Za-z0-9_-]{1,59}$' });
const mode = s.string({ enum: AGENT_MODES });
const toolName = s.string({ minLength: 1, maxLength: 128, pattern: '^[a-z][a-z0-9_.-]{0,127}$' });
const budgets = s.object({
  steps: s.integer({ minimum: 0 }), tokens: s.integer({ minimum: 0 }), wall_seconds: s.integer({ minimum: 0 }),
  files_read: s.integer({ minimum: 0 }), files_written: s.integer({ minimum: 0 }), bytes_out: s.integer({ minimum: 0 }),
});
const taskState = s.string({ enum: AGENT_TASK_STATES });
const text = (n: number) => s.nullable(s.string({ maxLength: n }));
const evidence = s.object({
  tool: s.string({ maxLength: 128 }), decision: s.nullable(s.string({ enum: ['allow', 'ask', 'deny'] })), rule: text(256), nonce: text(256),
  approvedBy: text(1024), resultHash: text(128), summary: text(64 * 1024), error: text(1024),
});
const step = s.object({
  index: s.integer({ minimum: 0 }), tool: s.string({ maxLength: 128 }), args: s.record(), why: s.string({ maxLength: 4096 }),
  /** What `securectl agent approve` signs: SHA-256 of the canonical step (plan id, index, tool, args, why). */
  intentHash: hash,
});
/** One task: its state, plan, evidence and budgets. */
export const planView = s.object({
  planId, task: s.string({ maxLength: 4096 }), mode, tools: s.array(s.string({ maxLength: 128 }), 256),
  state: taskState,
  /** The step sub-state while running (checking, deciding, awaiting_approval, calling, observing). */
  phase: s.nullable(s.string({ maxLength: 32 })),
  /** The step under way (or next), and the approval it waits for, if any: `-1` for the plan. */
  step: s.integer({ minimum: 0 }), awaiting: s.nullable(s.integer({ minimum: -1 })),
  plan: s.nullable(s.array(step, 64)), planIntentHash: s.nullable(hash), planApprovedBy: text(1024),
  evidence: s.array(evidence, 64), budgets, used: budgets,
  reason: text(256), detail: text(1024), by: s.string({ maxLength: 128 }), createdAt: s.integer({ minimum: 0 }),
});
export type PlanView = Static<typeof planView>;
/** The freeze in force (an incident's; only the signed unfreeze lifts it), or null. */
const frozenRecord = s.nullable(s.object({ incidentId: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 1024 }), at: s.integer({ minimum: 0 }) }));
const statusReply = s.object({
  enabled: s.boolean(), plans: s.array(planView, 64),
  lastFreeze: s.nullable(s.object({ incidentId: s.string({ maxLength: 128 }), at: s.integer({ minimum: 0 }), frozen: s.integer({ minimum: 0 }) })),
  frozen: frozenRecord,
});
const listReply = s.object({
  enabled: s.boolean(),
  plans: s.array(s.object({ planId, task: s.string({ maxLength: 4096 }), mode, state: taskState, awaiting: s.nullable(s.integer({ minimum: -1 })), createdAt: s.integer({ minimum: 0 }) }), 64),
});

export const runRequest = s.object({
  task: s.string({ minLength: 1, maxLength: 4096 }), mode,
  /** A subset of agent.yaml's tools (default: all of them). */
  tools: s.array(toolName, 64),
  /** The planner model (default agent.yaml `model`, else the first loaded model). */
  model: s.string({ minLength: 1, maxLength: 128 }),
}, ['mode', 'tools', 'model']);
/**
 * An approval as the operator signs it (the whole envelope is what policy.mint checks): the plan step (`-1`: the
 * plan itself), its intent hash as `agent status` showed it, and optionally the tool and arguments hash.
 */
export const approveRequest = s.object({ planId, step: s.integer({ minimum: -1, maximum: 63 }), intentHash: hash, tool: toolName, argsHash: hash }, ['tool', 'argsHash']);
const stepRequest = s.object({ planId, step: s.integer({ minimum: -1, maximum: 63 }), note: s.string({ maxLength: 512 }) }, ['note']);
const transitionReply = agentTransition;
export const freezeRequest = s.object({ incidentId: s.string({ minLength: 1, maxLength: 128 }), reason: s.string({ minLength: 1, maxLength: 512 }) });
const webStep = { planId: agentPlanId, step: agentStep, intentHash: agentIntentHash, session: webSession };
/** The approval and denial of a web session: auth alone asks, after it checked the session and the passphrase again. */
export const WEB_APPROVE_CALLERS = ['auth'] as const;
/** Running and cancelling from the web UI: the gateway alone asks, for a session its guard validated. */
export const WEB_RUN_CALLERS = ['gateway'] as const;
/** Who may freeze the agent: the incident actor alone (the ACL compiler refuses any other manifest that asks). */
export const FREEZE_CALLERS = ['incident'] as const;

export const agentManifest = defineManifest({
  name: 'agent',
  kind: 'actor',
  description: 'Runs operator tasks as plans: a grammar-constrained planner model, a policy-minted capability token per step, operator approvals, budgets per mode.',
  entry: 'actors/agent/main.js',
  serves: {
    status: { request: s.object({ planId }, ['planId']), reply: statusReply, maxBytes: 4096, description: 'The tasks (or one), with their plans, evidence and budgets (read-only, for the gateway).' },
    list: { request: s.empty(), reply: listReply, maxBytes: 4096, description: 'The tasks, one line each (read-only).' },
    freeze: {
      request: freezeRequest, reply: s.object({ frozen: s.integer({ minimum: 0 }) }), callers: FREEZE_CALLERS, maxBytes: 4096,
      description: 'Incident containment: every live task ends frozen at once (no further step runs).',
    },
    approve_web: {
      request: s.object(webStep), reply: transitionReply, callers: WEB_APPROVE_CALLERS, maxBytes: 4096, timeoutMs: 30_000,
      description: 'A web session approved the plan (step -1) or the step waiting (auth.agent_act, which first recorded it with policy.approve_web): policy.mint spends that record.',
    },
    deny_web: {
      request: s.object(webStep), reply: transitionReply, callers: WEB_APPROVE_CALLERS, maxBytes: 4096,
      description: 'A web session refused the plan or the step waiting (auth.agent_act): the task fails.',
    },
    run_web: {
      request: s.object({ task: s.string({ minLength: 1, maxLength: 4096 }), mode, session: webSession }, ['mode']), reply: s.object({ planId }), callers: WEB_RUN_CALLERS, maxBytes: 16 * 1024,
      description: 'Start a task for a web session (POST /api/agent/run); by is "web:" and the session handle.',
    },
    cancel_web: {
      request: s.object({ planId, session: webSession }), reply: transitionReply, callers: WEB_RUN_CALLERS, maxBytes: 4096,
      description: 'End a task now for a web session (POST /api/agent/:planId/cancel).',
    },
  },
  commands: {
    run: { request: runRequest, reply: s.object({ planId }), roles: ['admin', 'operator'], description: 'Start a task (securectl agent run).' },
    status: { request: s.object({ planId }, ['planId']), reply: statusReply, roles: ['admin', 'operator', 'auditor'], description: 'securectl agent status.' },
    approve: {
      request: approveRequest, reply: transitionReply, roles: ['admin'], timeoutMs: 30_000,
      description: 'Approve the plan (step -1) or the step waiting (securectl agent approve): the signed envelope is forwarded to policy.mint as the approval.',
    },
    deny: { request: stepRequest, reply: transitionReply, roles: ['admin', 'operator'], description: 'Refuse the plan or the step waiting: the task fails.' },
    cancel: { request: s.object({ planId }), reply: transitionReply, roles: ['admin', 'operator'], description: 'End a task now.' },
    unfreeze: {
      request: s.empty(), reply: s.object({ was: frozenRecord }), roles: ['admin'],
      description: 'Lift an incident\'s freeze (securectl agent unfreeze): tasks may start again.',
    },
  },
  publishes: {
    /** Each change of a task's state or step, with its evidence (the UI draws it; the audit chain keeps it). */
    plan_changed: s.object({
      planId, state: taskState, phase: s.nullable(s.string({ maxLength: 32 })), step: s.integer({ minimum: 0 }),
      awaiting: s.nullable(s.integer({ minimum: -1 })), evidence: s.array(evidence, 64), used: budgets, reason: text(256), detail: text(1024),
    }),
    frozen: s.object({ incidentId: s.string({ maxLength: 128 }), reason: s.string({ maxLength: 512 }), frozen: s.integer({ minimum: 0 }) }),
    unfrozen: s.object({ incidentId: s.string({ maxLength: 128 }), by: s.string({ maxLength: 128 }) }),
  },
  requests: ['inference.generate', 'inference.models', 'policy.mint', 'tool-firewall.call', 'mcp-firewall.call', 'mcp-firewall.tools'],
  subscribes: [],
});
