// securectl agent verbs: start a task, read its plan and evidence, approve or deny what it waits for, cancel it (signed commands).
import { commandOp } from '../bus/op-ref.js';
import { agentManifest, type PlanView } from '../actors/agent/manifest.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { argsHash } from '../policy/capability/token.js';
import { Exit, printJson, type CliSession } from './cli-common.js';

type AgentVerb = (s: CliSession, args: string[], o: { json: boolean; mode?: string; tools?: string; model?: string; note?: string }) => Promise<number>;

const ops = {
  run: commandOp(agentManifest, 'run'),
  status: commandOp(agentManifest, 'status'),
  approve: commandOp(agentManifest, 'approve'),
  deny: commandOp(agentManifest, 'deny'),
  cancel: commandOp(agentManifest, 'cancel'),
  unfreeze: commandOp(agentManifest, 'unfreeze'),
};

function printPlan(v: PlanView): void {
  const waits = v.awaiting === null ? '' : v.awaiting === -1 ? ', WAITS for plan approval' : `, WAITS for approval of step ${v.awaiting}`;
  process.stdout.write(`${v.planId} [${v.mode}] ${v.state}${v.phase ? ` (${v.phase})` : ''}${waits}: ${v.task}\n`);
  if (v.reason) process.stdout.write(`  reason: ${v.reason}${v.detail ? `: ${v.detail}` : ''}\n`);
  const u = v.used;
  const b = v.budgets;
  process.stdout.write(`  used: steps ${u.steps}/${b.steps}, tokens ${u.tokens}/${b.tokens}, ${u.wall_seconds}/${b.wall_seconds} s, read ${u.files_read}/${b.files_read}, written ${u.files_written}/${b.files_written}, out ${u.bytes_out}/${b.bytes_out} B\n`);
  for (const s of v.plan ?? []) {
    const e = v.evidence[s.index];
    const outcome = e ? ` → ${e.decision ?? '…'}${e.rule ? ` (${e.rule})` : ''}${e.approvedBy ? ` approved by ${e.approvedBy}` : ''}${e.summary ? `: ${e.summary}` : ''}${e.error ? ` ERROR ${e.error}` : ''}` : '';
    process.stdout.write(`  ${s.index}. ${s.tool} ${JSON.stringify(s.args)} (${s.why})${outcome}\n`);
  }
}

async function one(s: CliSession, planId: string | undefined): Promise<PlanView> {
  if (!planId) throw new SecaiError(ErrorCode.USAGE, 'a plan id is needed (securectl agent status lists them)');
  const r = await s.bus.callCommand(s.key, ops.status, { planId });
  return r.plans[0]!;
}

/** `plan` or -1 is the plan itself; else a step index. */
function stepOf(arg: string | undefined): number {
  if (arg === 'plan' || arg === '-1') return -1;
  const n = Number(arg);
  if (arg === undefined || !/^[0-9]+$/.test(arg) || !Number.isSafeInteger(n) || n > 63) throw new SecaiError(ErrorCode.USAGE, 'STEP is a step number (0 to 63) or "plan"');
  return n;
}

function printTransition(r: { planId: string; state: string; phase: string | null; step: number }, json: boolean): number {
  if (json) printJson(r);
  else process.stdout.write(`${r.planId}: ${r.state}${r.phase ? ` (${r.phase})` : ''}, step ${r.step}\n`);
  return Exit.OK;
}

export const agentVerbs: Record<string, AgentVerb> = {
  'agent run': async (s, args, o) => {
    const task = args.join(' ').trim();
    if (!task) throw new SecaiError(ErrorCode.USAGE, 'agent run needs a task: securectl agent run "TASK" [--mode M] [--tools a,b]');
    const tools = o.tools?.split(',').map((t) => t.trim()).filter(Boolean);
    const r = await s.bus.callCommand(s.key, ops.run, { task, ...(o.mode !== undefined && { mode: o.mode }), ...(tools && { tools }), ...(o.model !== undefined && { model: o.model }) });
    if (o.json) printJson(r);
    else process.stdout.write(`${r.planId} started (securectl agent status ${r.planId})\n`);
    return Exit.OK;
  },
  'agent status': async (s, args, o) => {
    const r = await s.bus.callCommand(s.key, ops.status, args[0] ? { planId: args[0] } : {});
    if (o.json) printJson(r);
    else {
      if (!r.enabled) process.stdout.write('agent: disabled (agent.yaml enabled: false)\n');
      if (r.frozen) process.stdout.write(`agent: FROZEN by incident ${r.frozen.incidentId} (${r.frozen.reason}): no task starts until securectl agent unfreeze\n`);
      if (r.lastFreeze) process.stdout.write(`last frozen by incident ${r.lastFreeze.incidentId} (${r.lastFreeze.frozen} task(s))\n`);
      if (!r.plans.length) process.stdout.write('no tasks\n');
      for (const v of r.plans) printPlan(v);
    }
    return Exit.OK;
  },
  // The approval signs exactly what status showed: the plan step, its intent hash, its tool and the hash of its arguments.
  'agent approve': async (s, args, o) => {
    const step = stepOf(args[1]);
    const v = await one(s, args[0]);
    let body: { planId: string; step: number; intentHash: string; tool?: string; argsHash?: string };
    if (step === -1) {
      if (!v.planIntentHash) throw new SecaiError(ErrorCode.APPROVAL_MISMATCH, `${v.planId} has no plan to approve (${v.state})`);
      body = { planId: v.planId, step, intentHash: v.planIntentHash };
    } else {
      const st = v.plan?.[step];
      if (!st) throw new SecaiError(ErrorCode.APPROVAL_MISMATCH, `${v.planId} has no step ${step}`);
      body = { planId: v.planId, step, intentHash: st.intentHash, tool: st.tool, argsHash: argsHash(st.args) };
    }
    return printTransition(await s.bus.callCommand(s.key, ops.approve, body), o.json);
  },
  'agent deny': async (s, args, o) => {
    const step = stepOf(args[1]);
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'agent deny PLAN STEP');
    return printTransition(await s.bus.callCommand(s.key, ops.deny, { planId: args[0], step, ...(o.note !== undefined && { note: o.note }) }), o.json);
  },
  'agent cancel': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'agent cancel PLAN');
    return printTransition(await s.bus.callCommand(s.key, ops.cancel, { planId: args[0] }), o.json);
  },
  'agent unfreeze': async (s, _args, o) => {
    const r = await s.bus.callCommand(s.key, ops.unfreeze, {});
    if (o.json) printJson(r);
    else process.stdout.write(r.was ? `agent unfrozen (was frozen by incident ${r.was.incidentId})\n` : 'agent was not frozen\n');
    return Exit.OK;
  },
};

export const AGENT_USAGE = `  agent run "TASK" [--mode M] [--tools a,b] [--model NAME]   start an agent task (modes: offline_only, standard, online_assisted, sensitive)
  agent status [PLAN]        the tasks (or one): state, plan, evidence per step, budgets used
  agent approve PLAN STEP    approve the step waiting (STEP "plan" approves the plan): signs its intent hash
  agent deny PLAN STEP [--note TEXT]   refuse the plan or step waiting: the task fails
  agent cancel PLAN          end a task now
  agent unfreeze             lift an incident's freeze: tasks may start again`;
