// tool_access: a tool may run only under a rule naming it, with arguments its schema accepts.
import type { ArgSpec, PolicyDoc } from '../types.js';
import { lexicalPath } from './path-lexical.js';
import { DEFAULT_DENY, deny, type Verdict } from './verdict.js';

export interface ToolAccessInput {
  tool: string;
  args: Record<string, unknown>;
}

export const toolAccessSchema = {
  type: 'object', additionalProperties: false, required: ['tool', 'args'],
  properties: { tool: { type: 'string', maxLength: 64 }, args: { type: 'object', maxProperties: 64 } },
};

function checkArg(name: string, spec: ArgSpec, v: unknown): string | undefined {
  switch (spec.type) {
    case 'boolean':
      return typeof v === 'boolean' ? undefined : `argument '${name}' must be a boolean`;
    case 'integer':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return `argument '${name}' must be an integer`;
      if (spec.min !== undefined && v < spec.min) return `argument '${name}' is below ${spec.min}`;
      if (spec.max !== undefined && v > spec.max) return `argument '${name}' is above ${spec.max}`;
      return undefined;
    case 'string':
    case 'path': {
      if (typeof v !== 'string') return `argument '${name}' must be a string`;
      if (v.length > (spec.max_length ?? 4096)) return `argument '${name}' is longer than ${spec.max_length ?? 4096}`;
      if (spec.type === 'path') {
        const p = lexicalPath(v);
        if (!p.ok) return `argument '${name}': ${p.reason}`;
      }
      return undefined;
    }
  }
}

/** `argBytes` is the size of the canonical argument object (the engine computes it once for the hash). */
export function decideToolAccess(policy: PolicyDoc, input: ToolAccessInput, argBytes: number): Verdict {
  const rule = policy.tools.rules.find((r) => r.tool === input.tool);
  if (!rule) return deny(DEFAULT_DENY, `no rule for tool '${input.tool}'`);
  if (argBytes > policy.tools.max_total_arg_bytes) return deny('tools.max_total_arg_bytes', `arguments take ${argBytes} bytes`);
  for (const name of Object.keys(input.args)) {
    if (!Object.hasOwn(rule.args, name)) return deny(rule.id, `unknown argument '${name}'`);
  }
  for (const [name, spec] of Object.entries(rule.args)) {
    const v = input.args[name];
    if (v === undefined || v === null) {
      if (spec.required !== false) return deny(rule.id, `missing argument '${name}'`);
      continue;
    }
    const bad = checkArg(name, spec, v);
    if (bad) return deny(rule.id, bad);
  }
  return { decision: rule.decision, rule: rule.id };
}
