// An agent plan as the planner model writes it: the JSON schema its output is constrained to, and the check that accepts it.
import { Ajv } from 'ajv';

/** One step of a plan: a tool the policy knows, its arguments, and the planner's reason (shown to the operator). */
export interface PlanStep {
  tool: string;
  args: Record<string, string | number | boolean>;
  why: string;
}
export interface Plan { steps: PlanStep[] }

/** Bounds of a plan, as the grammar counts them (characters as llama.cpp decodes them). */
export const PLAN_LIMITS = { maxSteps: 64, whyChars: 120, argChars: 256, args: 8, argName: 32, tools: 128, textBytes: 64 * 1024 } as const;

/**
 * The grammar counts a string's characters as llama.cpp decodes UTF-8, and accepts byte sequences that are not valid
 * UTF-8 (a lead byte over F4, a surrogate); decoded, each such byte becomes one U+FFFD. So one grammar character is at
 * most 4 characters of the text that arrives, and parsePlan allows that much: the bound is still the grammar's.
 */
const DECODED_PER_CHAR = 4;

const ARG_NAME = '^[A-Za-z][A-Za-z0-9_.-]*$';

function checkArgs(tools: readonly string[], maxSteps: number): void {
  if (!Number.isInteger(maxSteps) || maxSteps < 0 || maxSteps > PLAN_LIMITS.maxSteps) throw new RangeError(`maxSteps must be an integer from 0 to ${PLAN_LIMITS.maxSteps}`);
  if (tools.length > PLAN_LIMITS.tools || tools.some((t) => typeof t !== 'string' || t.length < 1 || t.length > 128)) throw new RangeError(`tools: at most ${PLAN_LIMITS.tools} names of 1 to 128 characters`);
}

/**
 * The built-in tools' arguments, named in the grammar: a model cannot misname or leave out `path`. Every required one
 * is written; a tool with optional arguments has a second form with all of them (the grammar writes every property an
 * object schema names, so an optional one is a form of its own).
 */
export const BUILTIN_ARGS: Readonly<Record<string, { required: readonly string[]; optional?: readonly string[] }>> = {
  'fs.read': { required: ['path'], optional: ['max_bytes'] },
  'fs.list': { required: ['path'] },
  'fs.search': { required: ['path', 'query'], optional: ['max_results'] },
  'fs.write': { required: ['path', 'content'] },
};

const objectOf = (properties: Record<string, unknown>) => ({ type: 'object', properties, required: Object.keys(properties), additionalProperties: false });

/** A built-in tool's steps, one schema per form of its arguments: required ones are text, optional ones counts. */
function builtinSteps(tool: string, chars: number): Record<string, unknown>[] {
  const spec = BUILTIN_ARGS[tool]!;
  const required: Record<string, unknown> = Object.fromEntries(spec.required.map((n) => [n, { type: 'string', ...(n === 'path' ? { minLength: 1 } : {}), maxLength: PLAN_LIMITS.argChars * chars }]));
  const forms = [required];
  if (spec.optional) forms.push({ ...required, ...Object.fromEntries(spec.optional.map((n) => [n, { type: 'integer' }])) });
  return forms.map((args) => objectOf({ tool: { const: tool }, args: objectOf(args), why: { type: 'string', maxLength: PLAN_LIMITS.whyChars * chars } }));
}

/**
 * Any other tool (an MCP server's) writes its arguments as a list of `{ name, value }` pairs, not an object: the grammar
 * bounds a property name only when the schema names it, and a free name is an unbounded string (a model can write one
 * until its tokens run out). Values are scalars: a nested argument cannot hide a second request inside a first.
 * parsePlan makes the object.
 */
function pairSteps(tools: readonly string[], chars: number, name: Record<string, unknown>): Record<string, unknown> {
  return objectOf({
    tool: { enum: [...tools] },
    args: {
      type: 'array', maxItems: PLAN_LIMITS.args,
      items: objectOf({
        name,
        value: { oneOf: [{ type: 'string', maxLength: PLAN_LIMITS.argChars * chars }, { type: 'number' }, { type: 'boolean' }] },
      }),
    },
    why: { type: 'string', maxLength: PLAN_LIMITS.whyChars * chars },
  });
}

/** One step: a form of one of `tools` (built-in tools by their named arguments, the others by pairs named by `name`). */
function stepSchema(tools: readonly string[], chars: number, name: Record<string, unknown>): Record<string, unknown> {
  const others = tools.filter((t) => !Object.hasOwn(BUILTIN_ARGS, t));
  const forms = [...tools.filter((t) => Object.hasOwn(BUILTIN_ARGS, t)).flatMap((t) => builtinSteps(t, chars)), ...(others.length ? [pairSteps(others, chars, name)] : [])];
  return forms.length === 1 ? forms[0]! : { oneOf: forms };
}

/**
 * The JSON schema a planner's output is generated under (generate's `jsonSchema`):
 * `{ steps: [{ tool, args, why }] }`, one to `maxSteps` steps, `tool` one of `tools`; `args` is `{ path, … }` for a
 * built-in tool and `[{ name, value }]` for any other. With no tools, the only plan is no steps.
 */
export function planSchema(tools: readonly string[], maxSteps: number): Record<string, unknown> {
  checkArgs(tools, maxSteps);
  // At least one step: a task is work for tools, and a plan of none would end every task before policy saw a thing
  // (a tiny random model writes `[]` nearly always). parsePlan still accepts an empty plan; the grammar never writes one.
  const steps = tools.length && maxSteps ? { type: 'array', minItems: 1, maxItems: maxSteps, items: stepSchema(tools, 1, { type: 'string', minLength: 1, maxLength: PLAN_LIMITS.argName }) } : { type: 'array', maxItems: 0 };
  return { type: 'object', properties: { steps }, required: ['steps'], additionalProperties: false };
}

const ajv = new Ajv({ allErrors: false, strict: true });
const compiled = new Map<string, ReturnType<typeof ajv.compile>>();

function validatorFor(tools: readonly string[], maxSteps: number): ReturnType<typeof ajv.compile> {
  const key = JSON.stringify([tools, maxSteps]);
  let v = compiled.get(key);
  if (!v) {
    // An argument name is accepted only as a plain identifier, at most argName characters (no U+FFFD allowance).
    const step = stepSchema(tools, DECODED_PER_CHAR, { type: 'string', minLength: 1, maxLength: PLAN_LIMITS.argName, pattern: ARG_NAME });
    const schema = {
      type: 'object', properties: { steps: tools.length && maxSteps ? { type: 'array', maxItems: maxSteps, items: step } : { type: 'array', maxItems: 0 } },
      required: ['steps'], additionalProperties: false,
    };
    v = ajv.compile(schema);
    if (compiled.size >= 64) compiled.clear();
    compiled.set(key, v);
  }
  return v;
}

/** A step as the planner writes it (a built-in tool's arguments by name, any other tool's as pairs). */
interface WrittenStep { tool: string; args: PlanStep['args'] | { name: string; value: string | number | boolean }[]; why: string }

export type ParsedPlan = { ok: true; plan: Plan } | { ok: false; reason: string };

/**
 * Accepts a planner's text only if it is one JSON value matching the plan schema for these tools and steps: every
 * failure (not JSON, an unknown tool, too many steps, an extra key, an argument name outside [A-Za-z][A-Za-z0-9_.-]* or named twice)
 * is a reason, never a partial plan.
 */
export function parsePlan(text: string, tools: readonly string[], maxSteps: number): ParsedPlan {
  checkArgs(tools, maxSteps);
  if (typeof text !== 'string') return { ok: false, reason: 'the planner output is not text' };
  if (Buffer.byteLength(text, 'utf8') > PLAN_LIMITS.textBytes) return { ok: false, reason: `the planner output is over ${PLAN_LIMITS.textBytes} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'the planner output is not JSON' };
  }
  const validate = validatorFor(tools, maxSteps);
  if (!validate(value)) {
    // The deepest error names what is wrong: a step's other forms fail on their `tool` first, which says nothing.
    const e = validate.errors?.reduce((a, b) => (b.instancePath.length > a.instancePath.length ? b : a));
    return { ok: false, reason: `the plan does not match its schema: ${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`.slice(0, 512) };
  }
  const steps: PlanStep[] = [];
  for (const [i, s] of (value as { steps: WrittenStep[] }).steps.entries()) {
    // Named arguments passed the schema: only the names it lists, each once.
    if (!Array.isArray(s.args)) {
      steps.push({ tool: s.tool, args: { ...s.args }, why: s.why });
      continue;
    }
    const args: PlanStep['args'] = {};
    for (const { name, value: v } of s.args) {
      // Two values for one name: which one the tool would see is ambiguous, so neither is.
      if (name in Object.prototype) return { ok: false, reason: `the plan does not match its schema: /steps/${i}/args names '${name}', a name every object has` };
      if (Object.hasOwn(args, name)) return { ok: false, reason: `the plan does not match its schema: /steps/${i}/args names '${name}' twice` };
      args[name] = v;
    }
    steps.push({ tool: s.tool, args, why: s.why });
  }
  return { ok: true, plan: { steps } };
}
