// agent.yaml as the agent actor reads it: validated and frozen at start, and the budgets and tools of one task from it.
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { loadConfig } from '../../policy/load.js';
import { AGENT_MODES, type AgentBudgets, type AgentMode } from '../../machines/agent-plan/agent-plan.machine.js';

export interface AgentConfig {
  version: 1;
  enabled: boolean;
  max_steps: number;
  max_wall_seconds: number;
  tools: readonly string[];
  approval_timeout_seconds: number;
  default_mode: AgentMode;
  require_plan_approval: boolean;
  model?: string;
  planner_max_tokens: number;
  planner_temperature: number;
  modes: Readonly<Record<AgentMode, AgentBudgets>>;
}

export interface LoadedAgentConfig { value: AgentConfig; digest: string }

/** `<configDir>/agent.yaml` against its schema: a missing or invalid file stops the actor (fail closed). */
export function loadAgentConfig(configDir: string): LoadedAgentConfig {
  const { value, digest } = loadConfig<AgentConfig>(configDir, 'agent');
  return { value, digest };
}

/** A task's budgets: its mode's, capped by the file's max_steps and max_wall_seconds. */
export function budgetsFor(c: AgentConfig, mode: AgentMode): AgentBudgets {
  const b = c.modes[mode];
  return { ...b, steps: Math.min(b.steps, c.max_steps), wall_seconds: Math.min(b.wall_seconds, c.max_wall_seconds) };
}

/** The tools a task may plan with: those it names, each one agent.yaml offers (default: all of them). */
export function toolsFor(c: AgentConfig, asked: readonly string[] | undefined): string[] {
  if (!asked) return [...c.tools];
  const unknown = asked.filter((t) => !c.tools.includes(t));
  if (unknown.length) throw new SecaiError(ErrorCode.AGENT_TOOL_REFUSED, `agent.yaml does not offer ${unknown.join(', ')} (tools: ${c.tools.join(', ') || 'none'})`);
  return [...new Set(asked)];
}

export function modeOf(c: AgentConfig, asked: string | undefined): AgentMode {
  const m = (asked ?? c.default_mode) as AgentMode;
  if (!AGENT_MODES.includes(m)) throw new SecaiError(ErrorCode.USAGE, `unknown mode ${String(asked).slice(0, 32)} (modes: ${AGENT_MODES.join(', ')})`);
  return m;
}
