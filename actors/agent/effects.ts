// The effects a task's machine invokes: the planner (a model under the plan grammar), the decider (policy.mint, or the
// MCP firewall's tool list) and the caller (tool-firewall.call with the minted token, or mcp-firewall.call).
import { createHash, randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { fromPromise } from 'xstate';
import type { BusClient } from '../../bus/client.js';
import { serveOp } from '../../bus/op-ref.js';
import type { CommandEnvelope } from '../../bus/envelope.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { HomePaths } from '../../common/paths.js';
import { BUILTIN_ARGS, parsePlan, planSchema, PLAN_LIMITS, type PlanStep } from '../../contracts/agent-plan.js';
import type { AgentBudgets, AgentMode, CallOutput, DecisionOutput, PlannerInput, PlannerOutput } from '../../machines/agent-plan/agent-plan.machine.js';
import type { AgentActorEvent, AgentActorContext } from '../../machines/agent/agent.machine.js';
import { inferenceManifest, mcpFirewallManifest, policyManifest, toolFirewallManifest } from '../../runtime/catalog.js';
import type { AgentConfig } from './config.js';
import { stepIntentHash } from './plan-view.js';

const ops = {
  generate: serveOp(inferenceManifest, 'generate'),
  models: serveOp(inferenceManifest, 'models'),
  mint: serveOp(policyManifest, 'mint'),
  call: serveOp(toolFirewallManifest, 'call'),
  mcpTools: serveOp(mcpFirewallManifest, 'tools'),
  mcpCall: serveOp(mcpFirewallManifest, 'call'),
};

/** A step's tool is an MCP server's when it is named `mcp.<tool>`: those go to the MCP firewall, not the tool firewall. */
export const MCP_PREFIX = 'mcp.';
export const isMcp = (tool: string) => tool.startsWith(MCP_PREFIX);

/** What the effects need from the actor. `root` is the agent machine, known once the actor runs. */
export interface EffectDeps {
  bus: BusClient;
  paths: HomePaths;
  config: AgentConfig;
  root(): { send(e: AgentActorEvent): void; getSnapshot(): { context: AgentActorContext } };
}

const ARGS: Record<string, string> = {
  'fs.read': 'args {"path": a file} or {"path": a file, "max_bytes": a count}',
  'fs.list': 'args {"path": a folder}',
  'fs.search': 'args {"path": a folder, "query": text to find} or with "max_results": a count',
  'fs.write': 'args {"path": a file, "content": the whole text}',
};

/** The folder a plan's relative paths are taken from. */
const workspaceOf = (deps: EffectDeps) => deps.paths.workspace;

/**
 * A built-in tool's relative `path` made absolute from the workspace, before anyone sees the plan: the operator
 * approves, policy mints for and the firewall checks the path that will be touched. `..` resolves like any path and
 * policy judges where it lands; an absolute path is left as written.
 */
function inWorkspace(deps: EffectDeps, step: PlanStep): PlanStep {
  const p = step.args['path'];
  if (!Object.hasOwn(BUILTIN_ARGS, step.tool) || typeof p !== 'string' || isAbsolute(p)) return step;
  return { ...step, args: { ...step.args, path: resolve(workspaceOf(deps), p) } };
}

/** Which model plans: the task's, agent.yaml's, else the first model the inference actor has loaded. */
async function plannerModel(deps: EffectDeps, planId: string): Promise<string> {
  const named = deps.root().getSnapshot().context.tasks.find((t) => t.id === planId)?.model ?? deps.config.model;
  if (named) return named;
  const { models } = await deps.bus.call(ops.models, {});
  const first = models[0]?.name;
  if (!first) throw new SecaiError(ErrorCode.MODEL_NOT_LOADED, 'no model is loaded to plan with (load one, or name it in agent.yaml model)');
  return first;
}

function prompt(deps: EffectDeps, task: string, mode: AgentMode, tools: readonly string[], maxSteps: number): { role: 'system' | 'user'; content: string }[] {
  const lines = tools.map((t) => `- ${t}: ${ARGS[t] ?? `args [{"name": …, "value": …}]${isMcp(t) ? ', as the MCP tool defines them' : ''}`}`);
  return [
    {
      role: 'system',
      content: `You plan tool calls for a task on a local workstation (mode ${mode}). Use at most ${maxSteps} steps and only these tools:\n${lines.join('\n')}\n`
        + `Files live under ${workspaceOf(deps)}; a relative path is taken from there. Answer with JSON only: {"steps":[{"tool":…,"args":…,"why":…}]}.`,
    },
    { role: 'user', content: task },
  ];
}

/** Asks the planner model under the plan grammar and parses what it wrote (a model wrote it: parsePlan fails closed). */
export async function plan(deps: EffectDeps, input: PlannerInput): Promise<PlannerOutput> {
  const { id: planId, budgets } = input;
  const maxSteps = Math.min(budgets.steps, PLAN_LIMITS.maxSteps);
  const model = await plannerModel(deps, planId);
  const maxTokens = Math.max(1, Math.min(deps.config.planner_max_tokens, budgets.tokens));
  const stream = deps.bus.callStream(ops.generate, {
    model, mode: 'chat', messages: prompt(deps, input.task, input.mode, input.tools, maxSteps), maxTokens, temperature: deps.config.planner_temperature,
    jsonSchema: planSchema(input.tools, maxSteps), client: 'agent', requestId: `agent-${randomBytes(12).toString('base64url')}`,
  }, 120_000);
  let text = '';
  let r = await stream.next();
  for (; !r.done; r = await stream.next()) {
    text += r.value.text;
    if (text.length > PLAN_LIMITS.textBytes) throw new SecaiError(ErrorCode.BAD_MESSAGE, `the planner wrote over ${PLAN_LIMITS.textBytes} bytes`);
  }
  const tokens = r.value.usage.promptTokens + r.value.usage.completionTokens;
  if (r.value.finishReason !== 'stop') throw new SecaiError(ErrorCode.BAD_MESSAGE, `the planner stopped on ${r.value.finishReason} after ${tokens} tokens: no whole plan`);
  const parsed = parsePlan(text, input.tools, maxSteps);
  if (!parsed.ok) throw new SecaiError(ErrorCode.BAD_MESSAGE, parsed.reason);
  return { steps: parsed.plan.steps.map((s) => inWorkspace(deps, s)), tokens };
}

const newNonce = () => `local-${randomBytes(12).toString('base64url')}`;

/** An MCP tool's decision: the MCP firewall exposes it (else deny); read-only runs, anything else asks the operator. */
async function decideMcp(deps: EffectDeps, step: PlanStep): Promise<DecisionOutput> {
  const name = step.tool.slice(MCP_PREFIX.length);
  const { tools } = await deps.bus.call(ops.mcpTools, {});
  const t = tools.find((x) => x.name === name && x.status === 'exposed');
  if (!t) return { decision: 'deny', rule: 'mcp.unavailable' };
  return t.readOnly ? { decision: 'allow', rule: 'mcp.read-only', token: { nonce: newNonce() } } : { decision: 'ask', rule: 'mcp.not-read-only' };
}

/** The approval a web session recorded in policy (auth.agent_act → policy.approve_web): mint spends it, the agent holds nothing. */
export const RECORDED = 'recorded' as const;

/**
 * Mints the step's capability token (`approval`: the operator's signed envelope, forwarded as it came). The token is
 * held in the agent machine by nonce until the call presents it; the task machine sees the nonce only.
 */
export async function mintStep(deps: EffectDeps, planId: string, index: number, step: PlanStep, approval?: CommandEnvelope | typeof RECORDED): Promise<DecisionOutput & { reason?: string }> {
  const given = approval === RECORDED ? { recorded: true } : approval !== undefined ? { approval } : {};
  const r = await deps.bus.call(ops.mint, {
    tool: step.tool, args: step.args, intentHash: stepIntentHash(planId, index, step), planId, step: index, ...given,
  }, 10_000);
  const why = r.reason !== undefined ? { reason: r.reason } : {};
  if (r.decision !== 'allow') return { decision: r.decision, rule: r.rule, ...why };
  // An allow without a token is not a leave to call: the task machine fails the step (token.missing).
  if (!r.token || !r.nonce) return { decision: 'allow', rule: r.rule, ...why };
  deps.root().send({ type: 'agent.token_held', nonce: r.nonce, planId, token: r.token });
  return { decision: 'allow', rule: r.rule, token: { nonce: r.nonce } };
}

export async function decide(deps: EffectDeps, input: { id: string; index: number; step: PlanStep }): Promise<DecisionOutput> {
  if (isMcp(input.step.tool)) return decideMcp(deps, input.step);
  const { reason: _, ...d } = await mintStep(deps, input.id, input.index, input.step);
  return d;
}

/** An operator approved an MCP step: there is no capability to mint, the approval (checked by the bus) is the leave. */
export const approveMcp = (): { nonce: string } => ({ nonce: newNonce() });

const resultHashOf = (v: unknown) => createHash('sha256').update(canonicalJson(v)).digest('hex');
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

/** A built-in tool's result, summed up for the evidence (never the content itself) and counted against the budgets. */
function summarize(tool: string, result: Record<string, unknown>): Pick<CallOutput, 'summary' | 'filesRead' | 'filesWritten'> {
  const path = String(result['path'] ?? '').slice(0, 512);
  switch (tool) {
    case 'fs.read': return { summary: `read ${num(result['bytes'])} bytes of ${path}${result['truncated'] ? ' (truncated)' : ''}`, filesRead: 1, filesWritten: 0 };
    case 'fs.list': return { summary: `listed ${Array.isArray(result['entries']) ? result['entries'].length : 0} entries of ${path}`, filesRead: 0, filesWritten: 0 };
    case 'fs.search': return { summary: `${Array.isArray(result['matches']) ? result['matches'].length : 0} matches in ${num(result['files'])} files under ${path}`, filesRead: num(result['files']), filesWritten: 0 };
    case 'fs.write': return { summary: `wrote ${num(result['bytes'])} bytes to ${path}${result['created'] ? ' (new file)' : ''}`, filesRead: 0, filesWritten: 1 };
    default: return { summary: `${tool} ran`, filesRead: 0, filesWritten: 0 };
  }
}

/** What a call may still do: a write with no file left in the budget is never sent (the budget check after a call would be too late). */
function precheck(tool: string, remaining: AgentBudgets): void {
  const need: Partial<Record<string, keyof AgentBudgets>> = { 'fs.read': 'files_read', 'fs.search': 'files_read', 'fs.write': 'files_written' };
  const b = need[tool];
  if (b && remaining[b] < 1) throw new SecaiError(ErrorCode.POLICY_DENIED, `budget.${b}: the task has no ${b.replace('_', ' ')} left`);
}

export async function call(deps: EffectDeps, input: { id: string; index: number; step: PlanStep; token: { nonce: string }; remaining: AgentBudgets }): Promise<CallOutput> {
  const { step, token } = input;
  precheck(step.tool, input.remaining);
  if (isMcp(step.tool)) {
    const r = await deps.bus.call(ops.mcpCall, { tool: step.tool.slice(MCP_PREFIX.length), args: step.args, session: `agent-${input.id}` });
    if (r.isError) throw new SecaiError(ErrorCode.TOOL_FAILED, `${step.tool} answered with an error`);
    return { summary: `${step.tool}: ${r.content.length} content block(s)${r.taints.length ? `, tainted ${r.taints.join(',')}` : ''}`, resultHash: resultHashOf(r), bytesOut: 0, filesRead: 0, filesWritten: 0 };
  }
  const held = deps.root().getSnapshot().context.tokens[token.nonce];
  if (!held || held.planId !== input.id) throw new SecaiError(ErrorCode.CAPABILITY_INVALID, `no capability token is held for ${input.id} step ${input.index}`);
  try {
    const r = await deps.bus.call(ops.call, { token: held.token, tool: step.tool, args: step.args });
    return { ...summarize(step.tool, r.result), resultHash: r.resultHash, bytesOut: 0 };
  } finally {
    // Spent or refused, a token is never presented twice.
    deps.root().send({ type: 'agent.token_spent', nonce: token.nonce });
  }
}

/** The task machine's effects (announce is the actor's: it publishes). */
export function effectActors(deps: EffectDeps) {
  return {
    planner: fromPromise<PlannerOutput, PlannerInput>(({ input }) => plan(deps, input)),
    decider: fromPromise<DecisionOutput, { id: string; index: number; step: PlanStep; mode: AgentMode }>(({ input }) => decide(deps, input)),
    caller: fromPromise<CallOutput, { id: string; index: number; step: PlanStep; token: { nonce: string }; remaining: AgentBudgets }>(({ input }) => call(deps, input)),
  };
}
