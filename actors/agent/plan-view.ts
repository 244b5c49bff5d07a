// What the agent shows of a task: its machine's snapshot as status, list and plan_changed carry it, with the intent hashes an approval signs.
import { canonicalJson } from '../../common/canonical-json.js';
import { intentHashOf } from '../../policy/capability/token.js';
import { stateOf, type AgentContext, type AgentState, type PlanStep } from '../../machines/agent-plan/agent-plan.machine.js';
import type { TaskRecord } from '../../machines/agent/agent.machine.js';
import type { PlanView } from './manifest.js';

/** The intent of one step, as the capability token and the operator's approval bind it. */
export const stepIntentHash = (planId: string, index: number, s: PlanStep): string =>
  intentHashOf(canonicalJson({ planId, step: index, tool: s.tool, args: s.args, why: s.why }));

/** The intent of the whole plan, as a plan-level approval (step -1) binds it. */
export const planIntentHash = (planId: string, task: string, plan: readonly PlanStep[]): string =>
  intentHashOf(canonicalJson({ planId, task, steps: plan }));

export interface ChildSnapshot { value: unknown; status: string; context: AgentContext }

/** The step sub-state while running (`awaiting_approval` …), else null. */
export function phaseOf(value: unknown): string | null {
  if (value && typeof value === 'object' && 'running' in value) return String((value as { running: unknown }).running);
  return null;
}

export function taskState(snap: ChildSnapshot, rec: TaskRecord | undefined): AgentState {
  // A machine that crashed has no final state of its own: its record says failed.
  if (snap.status === 'error') return 'failed';
  return rec?.end ?? stateOf(snap.value);
}

/** Which approval the task waits for: -1 the plan, n step n, null none. */
export function awaitingOf(snap: ChildSnapshot): number | null {
  if (snap.status !== 'active') return null;
  if (stateOf(snap.value) === 'pending_approval') return -1;
  return phaseOf(snap.value) === 'awaiting_approval' ? snap.context.step : null;
}

export function viewOf(snap: ChildSnapshot, rec: TaskRecord): PlanView {
  const c = snap.context;
  const plan = c.plan;
  return {
    planId: c.id, task: c.task, mode: c.mode, tools: [...c.tools], state: taskState(snap, rec), phase: snap.status === 'active' ? phaseOf(snap.value) : null,
    step: c.step, awaiting: awaitingOf(snap),
    plan: plan ? plan.map((s, index) => ({ index, tool: s.tool, args: { ...s.args }, why: s.why, intentHash: stepIntentHash(c.id, index, s) })) : null,
    planIntentHash: plan ? planIntentHash(c.id, c.task, plan) : null, planApprovedBy: c.planApprovedBy,
    evidence: c.evidence.map((e) => ({ ...e })), budgets: { ...c.budgets }, used: { ...c.used },
    reason: c.reason, detail: c.detail, by: rec.by, createdAt: rec.createdAt,
  };
}

/** The event a task's change publishes (plan_changed). */
export function changeOf(view: PlanView) {
  return { planId: view.planId, state: view.state, phase: view.phase, step: view.step, awaiting: view.awaiting, evidence: view.evidence, used: view.used, reason: view.reason, detail: view.detail };
}
