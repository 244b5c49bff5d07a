// Grammar-constrained generation: a jsonSchema on the inference actor's generate op makes even a tiny random model write
// JSON of that schema (the agent plan's), and a schema outside the supported subset, or over its bounds, is refused.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { startInferenceStack, type InferenceStack } from '../helpers/inference-stack.js';
import type { BusClient } from '../../bus/client.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { parsePlan, planSchema, PLAN_LIMITS } from '../../contracts/agent-plan.js';
import { checkJsonSchema, JSON_SCHEMA_LIMITS } from '../../workers/json-schema-subset.js';
import { parseToWorker } from '../../workers/protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-grammar-'));
const modelPath = join(dir, 'tiny.gguf');
const sha256 = writeTinyLlama(modelPath);
const TOOLS = ['fs.read', 'fs.write', 'web.search'];
let stack: InferenceStack;
let gw: BusClient;

t.before(async () => {
  stack = await startInferenceStack();
  stack.registry.set('tiny', { name: 'tiny', path: modelPath, sha256 });
  await stack.host.load('tiny');
  gw = await stack.bus.connect('gateway');
});
t.teardown(async () => {
  await gw?.close();
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** One generation over the bus, as a caller of `secai.inference.generate` makes it: the text and the end. */
async function generate(req: Record<string, unknown>): Promise<{ text: string; finishReason: string }> {
  const it = gw.requestStream<{ text: string }, { finishReason: string }>('inference', 'generate', { model: 'tiny', requestId: `grammar-test-${String(++n).padStart(8, '0')}`, ...req }, 120_000);
  let text = '';
  for (;;) {
    const r = await it.next();
    if (r.done) return { text, finishReason: r.value.finishReason };
    text += r.value.text;
  }
}

const codeOf = (p: Promise<unknown>) => p.then(() => 'no error', (e: unknown) => (e as SecaiError).code);

t.test('inference grammar — with the plan schema, the tiny random model writes plans that parsePlan accepts', async (t) => {
  const schema = planSchema(TOOLS, 2);
  const cases = [
    { mode: 'chat', messages: [{ role: 'user', content: 'plan: read the notes file' }], seed: 1 },
    { mode: 'chat', messages: [{ role: 'system', content: 'you plan tool calls' }, { role: 'user', content: 'search the web for rust' }], seed: 7 },
    { mode: 'completion', prompt: 'the plan is ', seed: 3 },
  ];
  let steps = 0;
  for (const c of cases) {
    const r = await generate({ ...c, jsonSchema: schema, maxTokens: 1800, temperature: 0.8 });
    t.equal(r.finishReason, 'stop', `${c.mode} seed ${c.seed}: the grammar ended the text, not the token limit`);
    const parsed = parsePlan(r.text, TOOLS, 2);
    t.ok(parsed.ok, `${c.mode} seed ${c.seed}: parsePlan accepts ${JSON.stringify(r.text.slice(0, 80))} (${parsed.ok ? '' : parsed.reason})`);
    if (parsed.ok) t.ok(parsed.plan.steps.every((s) => TOOLS.includes(s.tool)), 'every step names an offered tool');
    if (parsed.ok) steps += parsed.plan.steps.length;
  }
  t.ok(steps > 0, `not only empty plans: ${steps} steps in all`);
  // Without the grammar the same model writes no JSON at all: the constraint, not luck, made the plans.
  const free = await generate({ mode: 'chat', messages: [{ role: 'user', content: 'plan: read the notes file' }], maxTokens: 40, temperature: 0.8, seed: 1 });
  t.notOk(parsePlan(free.text, TOOLS, 2).ok, 'unconstrained text is refused');
});

t.test('inference grammar — a schema outside the subset is refused with SECAI_E_JSON_SCHEMA_UNSUPPORTED before any generation', async (t) => {
  const base = { mode: 'completion', prompt: 'x', maxTokens: 8, temperature: 0 };
  for (const [what, jsonSchema] of [
    ['pattern', { type: 'string', pattern: '^a+$' }],
    ['$ref', { $ref: '#/$defs/a', $defs: { a: { type: 'string' } } }],
    ['format', { type: 'string', format: 'email' }],
    ['minimum', { type: 'object', properties: { n: { type: 'integer', minimum: 3 } } }],
    ['anyOf', { anyOf: [{ type: 'string' }] }],
    ['a type list', { type: ['string', 'null'] }],
    ['required of an undeclared property', { type: 'object', properties: {}, required: ['x'] }],
  ] as const) {
    t.equal(await codeOf(generate({ ...base, jsonSchema })), ErrorCode.JSON_SCHEMA_UNSUPPORTED, `${what} is refused`);
  }
  const e = await generate({ ...base, jsonSchema: { type: 'object', properties: { a: { type: 'string', pattern: 'x' } } } }).catch((x: SecaiError) => x);
  t.match((e as SecaiError).message, /\/properties\/a\/pattern/, 'the message names the path');
  const ok = await generate({ ...base, jsonSchema: { type: 'boolean' } });
  t.match(ok.text, /^(true|false)$/, 'a supported schema runs (and the worker still answers)');
});

t.test('inference grammar — an oversized schema is refused: bytes, depth, nodes, enum size', async (t) => {
  const base = { mode: 'completion', prompt: 'x', maxTokens: 8, temperature: 0 };
  let deep: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < JSON_SCHEMA_LIMITS.depth + 2; i++) deep = { type: 'array', items: deep };
  const wide = { type: 'object', properties: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}`, { type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' }, c: { type: 'string' }, d: { type: 'string' } } }])) };
  for (const [what, jsonSchema] of [
    ['over 16 KiB', { type: 'string', description: 'x'.repeat(JSON_SCHEMA_LIMITS.bytes) }],
    ['too deep', deep],
    ['too many nodes', wide],
    ['too many enum values', { enum: Array.from({ length: JSON_SCHEMA_LIMITS.enumValues + 1 }, (_, i) => i) }],
  ] as const) {
    t.equal(await codeOf(generate({ ...base, jsonSchema })), ErrorCode.JSON_SCHEMA_UNSUPPORTED, `${what} is refused`);
  }
});

t.test('inference grammar — the worker checks the schema again on receipt (the actor is not its only guard)', async (t) => {
  const msg = { type: 'generate', id: 'g1', mode: 'completion', prompt: 'x', maxTokens: 4, temperature: 0 };
  t.doesNotThrow(() => parseToWorker({ ...msg, jsonSchema: planSchema(TOOLS, 3) }));
  t.throws(() => parseToWorker({ ...msg, jsonSchema: { type: 'string', pattern: 'a' } }), { code: ErrorCode.JSON_SCHEMA_UNSUPPORTED });
  t.throws(() => parseToWorker({ ...msg, jsonSchema: 'string' }), { code: ErrorCode.WORKER_PROTOCOL }, 'not an object: outside the protocol');
});

t.test('agent plan contract — planSchema is in the supported subset; parsePlan fails closed', async (t) => {
  t.doesNotThrow(() => checkJsonSchema(planSchema(TOOLS, PLAN_LIMITS.maxSteps)));
  t.same(planSchema([], 4), { type: 'object', properties: { steps: { type: 'array', maxItems: 0 } }, required: ['steps'], additionalProperties: false }, 'no tools: only the empty plan');
  t.throws(() => planSchema(TOOLS, PLAN_LIMITS.maxSteps + 1), RangeError);
  const step = { tool: 'web.search', args: [{ name: 'q', value: 'rust' }, { name: 'lines', value: 20 }, { name: 'follow', value: false }], why: 'search' };
  t.same(parsePlan(JSON.stringify({ steps: [step] }), TOOLS, 3), { ok: true, plan: { steps: [{ tool: 'web.search', args: { q: 'rust', lines: 20, follow: false }, why: 'search' }] } }, 'pairs become an object');
  const read = { tool: 'fs.read', args: { path: 'notes.txt' }, why: 'read the notes' };
  t.same(parsePlan(JSON.stringify({ steps: [read, { ...read, args: { path: '/n', max_bytes: 10 } }] }), TOOLS, 3), { ok: true, plan: { steps: [read, { ...read, args: { path: '/n', max_bytes: 10 } }] } }, 'a built-in tool names its arguments, in either form');
  t.same(parsePlan('{"steps":[]}', TOOLS, 3), { ok: true, plan: { steps: [] } }, 'a plan of no steps');
  // The grammar names every argument of a built-in tool: a random model cannot leave out fs.write's path.
  const writeSchema = planSchema(['fs.write'], 1) as { properties: { steps: { items: { properties: { args: unknown } } } } };
  t.same(writeSchema.properties.steps.items.properties.args, {
    type: 'object', additionalProperties: false, required: ['path', 'content'],
    properties: { path: { type: 'string', minLength: 1, maxLength: PLAN_LIMITS.argChars }, content: { type: 'string', maxLength: PLAN_LIMITS.argChars } },
  }, 'fs.write: path and content, both required');
  t.match(parsePlan(JSON.stringify({ steps: [{ ...read, args: { path: '' } }] }), TOOLS, 3), { ok: false, reason: /\/steps\/0\/args\/path/ }, 'the refusal names the argument');
  for (const [what, text] of [
    ['not JSON', '{"steps":['],
    ['an unknown tool', JSON.stringify({ steps: [{ ...step, tool: 'shell.exec' }] })],
    ['too many steps', JSON.stringify({ steps: [step, step, step, step] })],
    ['an extra key in a step', JSON.stringify({ steps: [{ ...step, sudo: true }] })],
    ['an extra key at the top', JSON.stringify({ steps: [], then: 'x' })],
    ['a missing why', JSON.stringify({ steps: [{ tool: 'fs.read', args: [] }] })],
    ['an MCP-style tool with named arguments', JSON.stringify({ steps: [{ ...step, args: { path: '/x' } }] })],
    ['a built-in tool with pairs', JSON.stringify({ steps: [{ ...read, args: [{ name: 'path', value: '/x' }] }] })],
    ['a built-in tool with an unknown argument', JSON.stringify({ steps: [{ ...read, args: { path: '/x', mode: 'rw' } }] })],
    ['a built-in tool without its path', JSON.stringify({ steps: [{ ...read, args: {} }] })],
    ['fs.write without its content', JSON.stringify({ steps: [{ ...read, tool: 'fs.write' }] })],
    ['a count that is not whole', JSON.stringify({ steps: [{ ...read, args: { path: '/x', max_bytes: 1.5 } }] })],
    ['an empty path', JSON.stringify({ steps: [{ ...read, args: { path: '' } }] })],
    ['a path over its bound', JSON.stringify({ steps: [{ ...read, args: { path: 'p'.repeat(PLAN_LIMITS.argChars * 4 + 1) } }] })],
    ['a nested argument', JSON.stringify({ steps: [{ ...step, args: [{ name: 'path', value: { $gt: '' } }] }] })],
    ['an argument name outside the pattern', JSON.stringify({ steps: [{ ...step, args: [{ name: 'a b', value: 'x' }] }] })],
    ['an argument named twice', JSON.stringify({ steps: [{ ...step, args: [{ name: 'path', value: '/a' }, { name: 'path', value: '/b' }] }] })],
    ['__proto__ as an argument name', JSON.stringify({ steps: [{ ...step, args: [{ name: '__proto__', value: 'x' }] }] })],
    ['constructor as an argument name', JSON.stringify({ steps: [{ ...step, args: [{ name: 'constructor', value: 'x' }] }] })],
    ['a why over its bound', JSON.stringify({ steps: [{ ...step, why: 'w'.repeat(PLAN_LIMITS.whyChars * 4 + 1) }] })],
    ['too many arguments', JSON.stringify({ steps: [{ ...step, args: Array.from({ length: PLAN_LIMITS.args + 1 }, (_, i) => ({ name: `a${i}`, value: i })) }] })],
    ['a bare array', JSON.stringify([step])],
    ['over the text bound', ' '.repeat(PLAN_LIMITS.textBytes + 1)],
  ] as const) {
    const r = parsePlan(text, TOOLS, 3);
    t.notOk(r.ok, `${what} is refused`);
  }
  t.notOk(parsePlan(JSON.stringify({ steps: [step] }), [], 3).ok, 'no tools offered: no step is acceptable');
});
