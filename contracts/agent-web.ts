// An agent plan or step acted on from the web UI: what the web path (gateway → auth → policy.approve_web and
// agent.approve_web / deny_web) sends and gets back. The agent serves it; auth and the gateway check against it.
import { s } from '../bus/schema.js';

export const agentPlanId = s.string({ minLength: 1, maxLength: 64, pattern: '^plan-[A-Za-z0-9_-]{1,59}$' });
/** The step waiting (`-1`: the plan itself). */
export const agentStep = s.integer({ minimum: -1, maximum: 63 });
/** What the page showed and the operator approved: SHA-256 of the canonical step (or plan). */
export const agentIntentHash = s.string({ pattern: '^[0-9a-f]{64}$' });
/** A web session's handle: `by` is `web:<handle>` for whatever a browser did. */
export const webSession = s.string({ minLength: 16, maxLength: 16, pattern: '^[0-9a-f]{16}$' });
export const AGENT_TASK_STATES = ['planning', 'pending_approval', 'running', 'completed', 'failed', 'cancelled', 'frozen'] as const;
/** The states a task never leaves. */
export const AGENT_TASK_ENDED: readonly (typeof AGENT_TASK_STATES)[number][] = ['completed', 'failed', 'cancelled', 'frozen'];
export const taskEnded = (state: string): boolean => (AGENT_TASK_ENDED as readonly string[]).includes(state);

/** A task after an operator's act: its state, step sub-state and step. */
export const agentTransition = s.object({
  planId: agentPlanId, state: s.string({ enum: AGENT_TASK_STATES }), phase: s.nullable(s.string({ maxLength: 32 })), step: s.integer({ minimum: 0 }),
});
