// The agent actor end to end on a real bus: the real policy, tool-firewall and agent processes, and the inference ops
// in this process with real llama.cpp workers: the tiny random model under the plan grammar, and a scripted model (its
// weights chosen so that, under the same grammar and greedy decoding, it plans fs.write of `draft` in the workspace)
// for the paths that need a known plan.
import t, { type Test } from 'tap';
import { execFile, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileAcl } from '../../bus/acl.js';
import type { BusClient } from '../../bus/client.js';
import { decode } from '../../bus/codec.js';
import { keyIdOf, type OperatorKey } from '../../bus/envelope.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey, trustOperator } from '../../bus/operator-keys.js';
import { getSodium } from '../../common/sodium.js';
import type { PlanView } from '../../actors/agent/manifest.js';
import { taskEnded } from '../../contracts/agent-web.js';
import { ensureWorkspace } from '../../actors/agent/workspace.js';
import { MANIFESTS } from '../../runtime/catalog.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { startActor } from '../helpers/actor-process.js';
import { ROOT } from '../helpers/appliance.js';
import { startTestBus, type TestBus } from '../helpers/bus.js';
import { PLANNED, servePlannerInference, type PlannerInference } from '../helpers/planner-inference.js';
import { until } from '../helpers/until.js';

/** The test's eyes on the bus: the agent's events and the tool firewall's calls. */
/** The file's own test object (subtests shadow `t`): what it starts lives until the file ends. */
const root = t;
const observer = defineManifest({
  name: 'agent-observer', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: [],
  subscribes: ['agent.plan_changed', 'agent.frozen', 'agent.unfrozen', 'tool-firewall.called'],
});
const dir = mkdtempSync(join(tmpdir(), 'secai-agent-'));
const modelPath = join(dir, 'tiny.gguf');
const sha256 = writeTinyLlama(modelPath);

let bus: TestBus;
let inference: PlannerInference;
let agent: ChildProcess;
let cli: BusClient;
let admin: OperatorKey;
let ws: string;
let config: string;
const events: { subject: string; data: Record<string, unknown> }[] = [];

const agentYaml = (enabled: boolean) => `version: 1
enabled: ${enabled}
max_steps: 8
max_wall_seconds: 120
tools: [fs.read, fs.list, fs.search, fs.write]
approval_timeout_seconds: 60
default_mode: standard
require_plan_approval: false
planner_max_tokens: 1800
planner_temperature: 0
modes:
  offline_only:    { steps: 4, tokens: 8192, wall_seconds: 120, files_read: 10, files_written: 0, bytes_out: 0 }
  standard:        { steps: 4, tokens: 8192, wall_seconds: 120, files_read: 10, files_written: 2, bytes_out: 0 }
  online_assisted: { steps: 4, tokens: 8192, wall_seconds: 120, files_read: 10, files_written: 2, bytes_out: 0 }
  sensitive:       { steps: 4, tokens: 8192, wall_seconds: 120, files_read: 10, files_written: 2, bytes_out: 0 }
`;

t.before(async () => {
  bus = await startTestBus([...MANIFESTS, observer], { streams: true });
  writeFileSync(bus.paths.busUrlFile, bus.url);
  config = mkdtempSync(join(tmpdir(), 'secai-agent-config-'));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
  writeFileSync(join(config, 'agent.yaml'), agentYaml(true));
  ws = join(bus.paths.home, 'workspace');
  mkdirSync(join(ws, 'notes'), { recursive: true });
  writeFileSync(join(ws, 'notes', 'a.md'), 'the notes');

  // The inference actor's ops, in this process: the tiny random model and the scripted planner.
  inference = await servePlannerInference(bus, [...MANIFESTS, observer], { tiny: { path: modelPath, sha256 }, intruder: { plans: '/etc' } });

  const eyes = await bus.connect('agent-observer');
  for (const s of ['secai.evt.agent.plan_changed', 'secai.evt.agent.frozen', 'secai.evt.agent.unfrozen', 'secai.evt.tool-firewall.called']) eyes.subscribe(s, (m) => { events.push({ subject: m.subject, data: decode(m.data) as Record<string, unknown> }); });
  await eyes.nc.flush();
  admin = await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);
  cli = await bus.connect('cli');
});

t.teardown(async () => {
  await inference?.stop();
  await bus?.stop();
  rmSync(dir, { recursive: true, force: true });
  if (config) rmSync(config, { recursive: true, force: true });
});

const status = async (planId: string): Promise<PlanView> => (await cli.command<{ plans: PlanView[] }>(admin, 'agent', 'status', { planId })).plans[0]!;
const ended = (v: PlanView) => taskEnded(v.state);
let last: PlanView | undefined;
const waitFor = (planId: string, what: string, ok: (v: PlanView) => boolean, ms = 60_000) =>
  until(what, async () => { const v = await status(planId); last = v; return ok(v) ? v : undefined; }, ms, () => `last seen: ${JSON.stringify(last)}`);
const run = (task: string, extra: Record<string, unknown> = {}) => cli.command<{ planId: string }>(admin, 'agent', 'run', { task, model: 'planner', ...extra });
/** Where the scripted model's plans write: its relative path, taken from the workspace. */
const draft = () => join(ws, PLANNED);
const securectl = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  execFile(process.execPath, ['--import=tsx', join(ROOT, 'bin', 'securectl.ts'), ...args], { env: { ...process.env, SECAI_HOME: bus.paths.home }, cwd: ROOT }, (err, stdout, stderr) => {
    resolve({ code: err ? Number((err as { code?: number }).code ?? 2) : 0, stdout, stderr });
  });
});

// Actor processes live for the whole file (stopped by the root teardown).
t.before(async () => {
  await startActor(bus, 'policy', config, t);
  await startActor(bus, 'tool-firewall', config, t);
  agent = await startActor(bus, 'agent', config, t);
});

t.test('agent — the tiny random model plans under the grammar; only what policy minted a token for runs', async (t) => {
  // A random model's plan is whatever it is (often no step at all): up to ten tasks, until one plans a step; the checks hold for each.
  let stepped = 0;
  const tasks = [`read the notes in ${ws}`, 'read every file', 'find the notes and read them', 'open a.md', 'read', 'what is in the notes?', 'show me the file', 'read it twice', 'notes', 'summarize'];
  for (const task of tasks) {
    const { planId } = await cli.command<{ planId: string }>(admin, 'agent', 'run', { task, tools: ['fs.read'], model: 'tiny' });
    t.match(planId, /^plan-/);
    const v = await waitFor(planId, 'the random plan to end', ended, 120_000);
    t.comment(`${task}: ${v.state} ${v.reason ?? ''} ${JSON.stringify(v.plan)?.slice(0, 300)}`);
    checkRandom(t, planId, v);
    stepped += v.evidence.length;
    if (stepped) break;
  }
  t.ok(stepped > 0, 'at least one step was decided');
});

function checkRandom(t: Test, planId: string, v: PlanView): void {
  t.ok(v.state === 'completed' || v.state === 'failed', `ended ${v.state} (${v.reason ?? ''}: ${v.detail ?? ''})`);
  // A plan the model did not finish (it ran out of tokens: plan.error) has no usage to count; every other one has.
  if (v.reason !== 'plan.error') t.ok(v.used.tokens > 0, 'the planner tokens are counted');
  t.ok((v.plan ?? []).every((s) => s.tool === 'fs.read'), 'the grammar offered fs.read alone');
  for (const [i, e] of v.evidence.entries()) {
    t.equal(e.tool, 'fs.read', `step ${i} is fs.read`);
    if (e.resultHash !== null) {
      // Ran: policy allowed it and minted a token, and the firewall's event names that token.
      t.equal(e.decision, 'allow');
      t.ok(e.nonce, 'a minted token');
      t.ok(events.some((x) => x.subject === 'secai.evt.tool-firewall.called' && x.data['decision'] === 'allow' && x.data['nonce'] === e.nonce && x.data['planId'] === planId), 'the firewall ran it with that token');
    } else if (e.decision === 'deny') {
      t.equal(v.reason, 'policy.deny', 'a denied step fails the task');
      t.notOk(e.nonce, 'no token for a denied step');
      t.match(e.error, /^policy\.deny: rule /, 'the step names the rule');
    }
  }
  // Nothing ran without a token, whatever the model wrote.
  const calls = events.filter((x) => x.subject === 'secai.evt.tool-firewall.called' && x.data['planId'] === planId);
  t.ok(calls.every((c) => v.evidence.some((e) => e.nonce === c.data['nonce'])), 'every tool call of the task carries a token of its evidence');
  if (v.state === 'failed') t.ok(['policy.deny', 'step.error', 'budget.files_read', 'plan.error'].includes(v.reason!), `failed for a stated reason: ${v.reason}`);
}

t.test('agent — a model that plans outside the workspace: policy refuses the step, no token is minted, nothing runs', async (t) => {
  // The intruder model writes `/etc` into every string: fs.read /etc, or fs.write /etc with the content `/etc`.
  for (const tool of ['fs.read', 'fs.write']) {
    const { planId } = await run(`look around (${tool})`, { model: 'intruder', tools: [tool] });
    const v = await waitFor(planId, `the ${tool} task to end`, ended);
    t.equal(v.plan![0]!.args['path'], '/etc', `${tool}: the model planned /etc`);
    t.match(v, { state: 'failed', reason: 'policy.deny' }, `${tool}: the task fails on policy`);
    t.match(v.evidence[0], { tool, decision: 'deny', nonce: null, resultHash: null }, `${tool}: denied, no token`);
    t.notOk(events.some((x) => x.subject === 'secai.evt.tool-firewall.called' && x.data['planId'] === planId), `${tool}: the firewall was never called`);
  }
});

t.test('agent — a write waits for the operator: refused without approval, forged approvals refused, runs once approved', async (t) => {
  const out = draft();
  const { planId } = await run('write the summary', { tools: ['fs.write'] });
  const v = await waitFor(planId, 'the write to wait for approval', (x) => x.awaiting === 0);
  t.equal(v.phase, 'awaiting_approval');
  t.same(v.plan!.map((s) => [s.tool, s.args]), [['fs.write', { path: out, content: PLANNED }]], 'the model planned the write; its relative path is shown resolved in the workspace');
  t.match(v.evidence[0], { tool: 'fs.write', decision: 'ask', rule: 'fs-write', nonce: null, resultHash: null });
  t.notOk(existsSync(out), 'nothing written while waiting');
  const step = v.plan![0]!;

  // A key nobody trusts, an auditor's key, the wrong intent, the wrong step: refused, and the task still waits.
  const sodium = await getSodium();
  const kp = sodium.crypto_sign_keypair();
  const stranger: OperatorKey = { publicKey: kp.publicKey, secretKey: kp.privateKey, keyId: keyIdOf(kp.publicKey) };
  const akp = sodium.crypto_sign_keypair();
  const auditor: OperatorKey = { publicKey: akp.publicKey, secretKey: akp.privateKey, keyId: keyIdOf(akp.publicKey) };
  trustOperator(bus.paths.trustedOperators, { keyId: auditor.keyId, publicKey: auditor.publicKey, roles: ['auditor'], name: 'auditor' });
  await t.rejects(cli.command(stranger, 'agent', 'approve', { planId, step: 0, intentHash: step.intentHash }), { code: 'SECAI_E_KEY_UNKNOWN' }, 'a forged approval (untrusted key)');
  await t.rejects(cli.command(auditor, 'agent', 'approve', { planId, step: 0, intentHash: step.intentHash }), { code: 'SECAI_E_UNAUTHORIZED' }, 'an auditor cannot approve');
  await t.rejects(cli.command(admin, 'agent', 'approve', { planId, step: 0, intentHash: 'f'.repeat(64) }), { code: 'SECAI_E_APPROVAL_MISMATCH' }, 'another intent');
  await t.rejects(cli.command(admin, 'agent', 'approve', { planId, step: 1, intentHash: step.intentHash }), { code: 'SECAI_E_APPROVAL_MISMATCH' }, 'another step');
  t.equal((await status(planId)).awaiting, 0, 'still waiting');
  t.notOk(existsSync(out));

  // securectl agent approve: fetches the step's intent hash, signs it; policy.mint checks the same envelope.
  const r = await securectl(['agent', 'approve', planId, '0', '--json']);
  t.equal(r.code, 0, `securectl agent approve: ${r.stderr}`);
  const done = await waitFor(planId, 'the approved write to complete', ended);
  t.equal(done.state, 'completed', `${done.reason ?? ''} ${done.detail ?? ''}`);
  t.equal(readFileSync(out, 'utf8'), PLANNED, 'written once approved');
  t.match(done.evidence[0], { decision: 'ask', rule: 'fs-write', approvedBy: admin.keyId });
  t.ok(done.evidence[0]!.nonce && done.evidence[0]!.resultHash, 'a token and a result hash');
  const call = events.find((x) => x.subject === 'secai.evt.tool-firewall.called' && x.data['planId'] === planId);
  t.match(call?.data, { decision: 'allow', tool: 'fs.write', approvedBy: admin.keyId, nonce: done.evidence[0]!.nonce }, 'the firewall ran it with the approved token');
  t.ok(events.some((x) => x.subject === 'secai.evt.agent.plan_changed' && x.data['planId'] === planId && x.data['awaiting'] === 0), 'plan_changed told the wait');

  const st = await securectl(['agent', 'status', planId]);
  t.match(st.stdout, new RegExp(`${planId} \\[standard\\] completed`), 'securectl agent status prints it');
});

t.test('agent — a denied write is never written; the task fails with step.denied', async (t) => {
  const out = draft();
  rmSync(out, { force: true });
  const { planId } = await run('write something I will refuse', { tools: ['fs.write'] });
  await waitFor(planId, 'the write to wait', (x) => x.awaiting === 0);
  const r = await securectl(['agent', 'deny', planId, '0']);
  t.equal(r.code, 0, r.stderr);
  const v = await waitFor(planId, 'the task to fail', ended);
  t.match(v, { state: 'failed', reason: 'step.denied' });
  t.match(v.evidence[0]!.error, /step\.denied/);
  t.notOk(existsSync(out));
  await t.rejects(cli.command(admin, 'agent', 'approve', { planId, step: 0, intentHash: v.plan![0]!.intentHash }), { code: 'SECAI_E_APPROVAL_MISMATCH' }, 'an ended task approves nothing');
});

t.test('agent — sensitive mode: the plan and every step wait for the operator (even a read policy allows)', async (t) => {
  writeFileSync(draft(), 'the draft');
  const { planId } = await run('read in sensitive mode', { mode: 'sensitive', tools: ['fs.read'] });
  const p = await waitFor(planId, 'the plan to wait', (x) => x.awaiting === -1);
  t.equal(p.state, 'pending_approval');
  t.equal(p.evidence.length, 0, 'no step decided before the plan is approved');
  await t.rejects(cli.command(admin, 'agent', 'approve', { planId, step: -1, intentHash: p.plan![0]!.intentHash }), { code: 'SECAI_E_APPROVAL_MISMATCH' }, 'a step hash does not approve the plan');
  t.equal((await securectl(['agent', 'approve', planId, 'plan'])).code, 0);
  const s = await waitFor(planId, 'step 0 to wait', (x) => x.awaiting === 0);
  t.match(s.evidence[0], { decision: 'allow', rule: 'fs-read' });
  t.equal(s.planApprovedBy, admin.keyId);
  t.equal((await securectl(['agent', 'approve', planId, '0'])).code, 0);
  const v = await waitFor(planId, 'the task to complete', ended);
  t.equal(v.state, 'completed', `${v.reason ?? ''} ${v.detail ?? ''}`);
  t.match(v.evidence[0]!.summary, new RegExp(`^read 9 bytes of ${draft()}$`));
});

t.test('agent — cancel and incident freeze end a waiting task; only the incident identity may freeze', async (t) => {
  rmSync(draft(), { force: true });
  const a = (await run('wait to be cancelled')).planId;
  const b = (await run('wait to be frozen')).planId;
  await waitFor(a, 'a to wait', (x) => x.awaiting === 0);
  await waitFor(b, 'b to wait', (x) => x.awaiting === 0);
  t.equal((await securectl(['agent', 'cancel', a])).code, 0);
  t.match(await waitFor(a, 'a cancelled', ended), { state: 'cancelled', reason: 'cancelled' });

  await t.rejects(cli.request('agent', 'freeze', { incidentId: 'inc-1', reason: 'test' }, 2000), 'securectl\'s identity cannot freeze');
  const incident = await bus.connect('incident');
  const r = await incident.request<{ frozen: number }>('agent', 'freeze', { incidentId: 'inc-1', reason: 'test containment' });
  t.equal(r.frozen, 1, 'one live task');
  t.match(await waitFor(b, 'b frozen', ended), { state: 'frozen', reason: 'frozen', detail: 'incident inc-1' });
  t.notOk(existsSync(draft()), 'neither write ran');
  await until('the frozen event', () => events.some((x) => x.subject === 'secai.evt.agent.frozen' && x.data['incidentId'] === 'inc-1'));
  const all = await cli.command<{ plans: PlanView[]; lastFreeze: { incidentId: string }; frozen: { incidentId: string } | null }>(admin, 'agent', 'status', {});
  t.equal(all.lastFreeze.incidentId, 'inc-1');
  t.match(all.frozen, { incidentId: 'inc-1', reason: 'test containment' });

  // Frozen means frozen: nothing starts, across a restart, until the signed operator unfreeze.
  await t.rejects(run('wait to be cancelled'), { code: 'SECAI_E_AGENT_FROZEN', message: /inc-1/ });
  t.ok(existsSync(join(bus.paths.home, 'agent', 'frozen.json')), 'the freeze is on disk before it is answered');
  await new Promise<void>((r) => { agent.once('exit', () => r()); agent.kill('SIGTERM'); });
  // Owned by the file, not this subtest: the tests after this one use it.
  agent = await startActor(bus, 'agent', config, root);
  await t.rejects(run('wait to be cancelled'), { code: 'SECAI_E_AGENT_FROZEN' }, 'a restarted agent is still frozen');
  const un = await securectl(['agent', 'unfreeze']);
  t.equal(un.code, 0, un.stderr);
  t.match(un.stdout, /unfrozen \(was frozen by incident inc-1\)/);
  t.notOk(existsSync(join(bus.paths.home, 'agent', 'frozen.json')), 'the record is gone');
  const c = (await run('wait to be cancelled')).planId;
  await waitFor(c, 'a task after unfreeze to wait', (x) => x.awaiting === 0);
  t.equal((await securectl(['agent', 'cancel', c])).code, 0);
  await until('the unfrozen event', () => events.some((x) => x.subject === 'secai.evt.agent.unfrozen' && x.data['incidentId'] === 'inc-1'));
});

t.test('agent — a tool agent.yaml does not offer is refused; with enabled: false no task starts', async (t) => {
  await t.rejects(run('anything', { tools: ['shell.exec'] }), { code: 'SECAI_E_AGENT_TOOL_REFUSED' });
  writeFileSync(join(config, 'agent.yaml'), agentYaml(false));
  // agent.yaml is read at start: the running agent goes (two would answer side by side), a new one reads the file.
  await new Promise<void>((r) => { agent.once('exit', () => r()); agent.kill('SIGTERM'); });
  agent = await startActor(bus, 'agent', config, t);
  await t.rejects(run('anything'), { code: 'SECAI_E_AGENT_DISABLED', message: /enabled: false/ });
  t.equal((await cli.command<{ enabled: boolean }>(admin, 'agent', 'status', {})).enabled, false);
});

t.test('agent — only the incident identity may freeze: a manifest of any other identity that asks does not compile', async (t) => {
  const rogue = defineManifest({ ...observer, name: 'rogue', requests: ['agent.freeze'] });
  t.throws(() => compileAcl([...MANIFESTS, rogue]), { code: 'SECAI_E_CONFIG_INVALID', message: /only incident may ask/ });
  const who = compileAcl(MANIFESTS).filter((id) => id.permissions.publish.allow.includes('secai.agent.freeze')).map((id) => id.name);
  t.same(who, ['incident'], 'the compiled ACL lets the incident identity alone publish to secai.agent.freeze');
});

t.test('agent — the workspace is made at start when missing; something else in its place is logged, not fatal, and left as it is', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'secai-ws-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const errors: string[] = [];
  const log = { error: (_o: object, msg: string) => { errors.push(msg); } };
  const made = join(home, 'workspace');
  t.ok(ensureWorkspace(made, log), 'made');
  t.equal(statSync(made).mode & 0o777, 0o700, 'owner only');
  t.ok(ensureWorkspace(made, log), 'an existing folder is kept');
  const file = join(home, 'a-file');
  writeFileSync(file, 'not a folder');
  const dangling = join(home, 'dangling');
  symlinkSync(join(home, 'nowhere'), dangling);
  t.notOk(ensureWorkspace(file, log), 'a file in its place');
  t.notOk(ensureWorkspace(dangling, log), 'a dangling link in its place');
  t.equal(readFileSync(file, 'utf8'), 'not a folder', 'the file is left as it is');
  t.notOk(existsSync(join(home, 'nowhere')), 'the link is not followed to make its target');
  t.equal(errors.length, 2, 'both logged');
});
