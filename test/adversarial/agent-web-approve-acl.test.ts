// Approving an agent step from the web UI goes gateway → auth.agent_act (session and passphrase again) →
// policy.approve_web (the record) → agent.approve_web → policy.mint, which spends the record. The agent cannot forge
// one: only auth may record, only the gateway may ask auth, and a record is single use and bound to its planId, step
// and intent. Checked in the compiled ACL, by the compiler, on a real nats-server against every identity, and with
// the real policy, vault, auth, tool-firewall and agent actors (the scripted planner model in this
// process, on a real llama.cpp worker).
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { compileAcl } from '../../bus/acl.js';
import { decode } from '../../bus/codec.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { serveSubject } from '../../bus/subjects.js';
import { ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { issueSetupCode } from '../../common/setup-code.js';
import type { PlanView } from '../../actors/agent/manifest.js';
import { taskEnded } from '../../contracts/agent-web.js';
import { MAX_WEB_APPROVALS, recordWebApproval, spendWebApproval, type WebApproval } from '../../machines/policy/policy.machine.js';
import { MANIFESTS } from '../../runtime/catalog.js';
import { startTestBus } from '../helpers/bus.js';
import { PLANNED, servePlannerInference } from '../helpers/planner-inference.js';
import { until } from '../helpers/until.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';
import { covers } from '../helpers/subject-covers.js';

t.setTimeout(240_000);

const SOLE: readonly { actor: string; op: string; only: string }[] = [
  { actor: 'policy', op: 'approve_web', only: 'auth' },
  { actor: 'agent', op: 'approve_web', only: 'auth' },
  { actor: 'agent', op: 'deny_web', only: 'auth' },
  { actor: 'auth', op: 'agent_act', only: 'gateway' },
  { actor: 'agent', op: 'run_web', only: 'gateway' },
  { actor: 'agent', op: 'cancel_web', only: 'gateway' },
];


t.test('agent web approve acl — compiled ACL: each web op has exactly one asker', async (t) => {
  const acl = compileAcl(MANIFESTS);
  for (const { actor, op, only } of SOLE) {
    const subject = serveSubject(actor, op);
    t.same(acl.filter((id) => covers(id.permissions.publish.allow, subject)).map((id) => id.name), [only], `${subject}: ${only} only`);
    t.same(acl.filter((id) => covers(id.permissions.subscribe.allow, subject)).map((id) => id.name), [actor], `${subject}: served by ${actor} only`);
  }
});

t.test('agent web approve acl — the compiler refuses the agent (or the gateway) asking to record or approve itself', async (t) => {
  const greedy: [string, string][] = [
    ['agent', 'policy.approve_web'], ['agent', 'auth.agent_act'], ['gateway', 'policy.approve_web'], ['gateway', 'agent.approve_web'],
    ['gateway', 'agent.deny_web'], ['auth', 'agent.run_web'],
  ];
  for (const [name, op] of greedy) {
    const m = MANIFESTS.find((x) => x.name === name)!;
    const changed = { ...m, requests: [...m.requests, op] };
    t.throws(() => compileAcl(MANIFESTS.map((x) => (x.name === name ? changed : x))), new RegExp(`${name} requests '${op.replace('.', '\\.')}', which only`), `${name} → ${op}`);
  }
});

t.test('agent web approve acl — real nats-server: every identity but the one named is refused each web op', async (t) => {
  const bus = await startTestBus(MANIFESTS);
  t.teardown(() => bus.stop());
  const served = new Map<string, number>();
  const servers = new Map<string, Awaited<ReturnType<typeof bus.connect>>>();
  for (const { actor, op } of SOLE) {
    const subject = serveSubject(actor, op);
    let server = servers.get(actor);
    if (!server) { server = await bus.connect(actor); servers.set(actor, server); }
    served.set(subject, 0);
    server.subscribe(subject, (m) => { served.set(subject, served.get(subject)! + 1); m.respond(new Uint8Array([0xc0])); });
    await server.nc.flush();
  }
  for (const m of MANIFESTS) {
    const c = await bus.connect(m.name);
    for (const { actor, op, only } of SOLE) {
      if (m.name === actor) continue;
      const subject = serveSubject(actor, op);
      try {
        await c.nc.request(subject, new Uint8Array([0x80]), { timeout: 1500 });
        t.equal(m.name, only, `${m.name} reached ${subject}`);
      } catch (err) {
        t.not(m.name, only, `${m.name} refused ${subject}: ${(err as Error).message.slice(0, 60)}`);
      }
    }
    await c.close();
  }
  for (const { actor, op, only } of SOLE) t.equal(served.get(serveSubject(actor, op)), 1, `${actor}.${op}: exactly one request arrived, ${only}'s`);
  for (const s of servers.values()) await s.close();
});

t.test('agent web approve acl — the record table: single use, bound to planId, step and intent, expiring, bounded', async (t) => {
  const a: WebApproval = { planId: 'plan-a', step: 0, intentHash: 'a'.repeat(64), by: 'web:0123456789abcdef', until: 2000 };
  let list = recordWebApproval([], a, 1000).list;
  for (const other of [{ ...a, planId: 'plan-b' }, { ...a, step: 1 }, { ...a, intentHash: 'b'.repeat(64) }]) {
    const r = spendWebApproval(list, other, 1000);
    t.equal(r.by, null, `not spent for ${JSON.stringify({ planId: other.planId, step: other.step, intent: other.intentHash.slice(0, 4) })}`);
    list = r.list;
  }
  t.equal(spendWebApproval(list, a, 2000).by, null, 'expired at until');
  const once = spendWebApproval(list, a, 1500);
  t.equal(once.by, a.by, 'spent once, naming the web session');
  t.equal(spendWebApproval(once.list, a, 1500).by, null, 'never twice');
  let full: WebApproval[] = [];
  for (let i = 0; i < MAX_WEB_APPROVALS; i++) full = recordWebApproval(full, { ...a, planId: `plan-${i}` }, 1000).list;
  t.notOk(recordWebApproval(full, { ...a, planId: 'plan-more' }, 1000).ok, 'a full table refuses');
  t.ok(recordWebApproval(full, { ...a, planId: 'plan-more' }, 2000).ok, 'expired records make room');
  t.equal(recordWebApproval(full, { ...a, planId: 'plan-0', until: 9000 }, 1000).list.filter((x) => x.planId === 'plan-0').length, 1, 'a step approved again replaces its record');
});

// The chain on a real bus. The planner is the scripted model: every task plans fs.write of PLANNED in the workspace.
const P = 'the owner passphrase for agent approvals';
const observer = defineManifest({
  name: 'agent-web-observer', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: [],
  subscribes: ['auth.agent_act_refused', 'policy.web_approved', 'policy.minted'],
});

t.test('agent web approve acl — real actors: only a recorded approval of the exact step mints; the agent cannot record one', async (t) => {
  const config = fastPolicyDir();
  const agentYaml = parse(readFileSync(join(config, 'agent.yaml'), 'utf8'));
  Object.assign(agentYaml, { enabled: true, tools: ['fs.read', 'fs.write'], model: 'planner', planner_temperature: 0, require_plan_approval: false });
  writeFileSync(join(config, 'agent.yaml'), stringify(agentYaml));
  const bus = await startTestBus([...MANIFESTS, observer], { streams: true });
  const children: ChildProcess[] = [];
  let inference: Awaited<ReturnType<typeof servePlannerInference>> | undefined;
  t.teardown(async () => { for (const c of children) await killHard(c); await inference?.stop(); await bus.stop(); cleanup(config); });
  const ws = join(bus.paths.home, 'workspace');
  mkdirSync(ws, { recursive: true });

  inference = await servePlannerInference(bus, [...MANIFESTS, observer]);
  const events: { subject: string; data: Record<string, unknown> }[] = [];
  const eyes = await bus.connect('agent-web-observer');
  for (const s of ['secai.evt.auth.agent_act_refused', 'secai.evt.policy.web_approved', 'secai.evt.policy.minted']) eyes.subscribe(s, (m) => { events.push({ subject: m.subject, data: decode(m.data) as Record<string, unknown> }); });
  await eyes.nc.flush();

  await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);
  for (const name of ['policy', 'vault', 'auth', 'tool-firewall', 'agent']) children.push(await startActorProcess(bus, name, config));
  const gateway = await bus.connect('gateway');
  const auth = await bus.connect('auth');
  const agent = await bus.connect('agent');
  const me = await gateway.request<{ sessionId: string; handle: string }>('auth', 'setup', { passphrase: P, setupCode: issueSetupCode(bus.paths.run, false)! }, 30_000);
  const status = async (planId: string) => (await gateway.request<{ plans: PlanView[] }>('agent', 'status', { planId })).plans[0]!;
  const waitFor = (planId: string, what: string, ok: (v: PlanView) => boolean) =>
    until(what, async () => { const v = await status(planId); return ok(v) ? v : undefined; }, 60_000, () => '');
  const ended = (v: PlanView) => taskEnded(v.state);
  const out = join(ws, PLANNED);
  const act = (planId: string, step: number, intentHash: string, action: 'approve' | 'deny', passphrase = P) =>
    gateway.request<{ state: string }>('auth', 'agent_act', { sessionId: me.sessionId, planId, step, intentHash, action, passphrase }, 60_000);
  const mintAs = (planId: string, step: number, intentHash: string, path: string, extra: Record<string, unknown> = { recorded: true }) =>
    agent.request<{ decision: string; rule: string; token?: string; approvedBy?: string }>('policy', 'mint', { tool: 'fs.write', args: { path, content: 'x' }, intentHash, planId, step, ...extra }, 10_000);

  await t.test('run_web from the gateway: the task is the web session\'s; other identities cannot', async (t) => {
    const { planId } = await gateway.request<{ planId: string }>('agent', 'run_web', { task: 'write it from the web', session: me.handle });
    const v = await waitFor(planId, 'the write to wait', (x) => x.awaiting === 0);
    t.equal(v.by, `web:${me.handle}`, 'by the web session');
    t.match(v.evidence[0], { tool: 'fs.write', decision: 'ask', rule: 'fs-write', nonce: null });
    const cli = await bus.connect('cli');
    await t.rejects(cli.request('agent', 'run_web', { task: 'x', session: me.handle }, 1500), 'securectl\'s identity cannot ask run_web');
    await cli.close();
    const step = v.plan![0]!;

    // The agent identity cannot record, and cannot mint with a record that does not exist.
    await t.rejects(agent.request('policy', 'approve_web', { planId, step: 0, intentHash: step.intentHash, session: me.handle }, 1500), 'the agent cannot record a web approval');
    t.match(await mintAs(planId, 0, step.intentHash, out), { decision: 'deny', rule: 'capability.approval' }, 'no record: no token');
    t.match(await mintAs(planId, 0, step.intentHash, out, {}), { decision: 'ask' }, 'no approval at all: ask');

    // A wrong passphrase records nothing and moves nothing.
    await t.rejects(act(planId, 0, step.intentHash, 'approve', 'not the passphrase'), { code: ErrorCode.WRONG_PASSPHRASE });
    await t.rejects(act(planId, 0, 'f'.repeat(64), 'approve'), { code: ErrorCode.APPROVAL_MISMATCH }, 'another intent is refused by the agent');
    await t.rejects(act(planId, -1, step.intentHash, 'approve'), { code: ErrorCode.APPROVAL_MISMATCH }, 'the plan is not what waits');
    t.equal((await status(planId)).awaiting, 0, 'still waiting');
    t.notOk(existsSync(out), 'nothing written');
    await until('the refusals evented', () => events.filter((e) => e.subject === 'secai.evt.auth.agent_act_refused' && e.data['planId'] === planId).length >= 3 || undefined);

    // The passphrase again: recorded, spent by the agent's mint, written.
    const r = await act(planId, 0, step.intentHash, 'approve');
    t.match(r, { planId, state: 'running' });
    const done = await waitFor(planId, 'the approved write to complete', ended);
    t.equal(done.state, 'completed', `${done.reason ?? ''} ${done.detail ?? ''}`);
    t.equal(readFileSync(out, 'utf8'), PLANNED, 'the planned content');
    t.match(done.evidence[0], { decision: 'ask', approvedBy: `web:${me.handle}` });
    await until('minted evented', () => events.some((e) => e.subject === 'secai.evt.policy.minted' && e.data['planId'] === planId && e.data['approvedBy'] === `web:${me.handle}`) || undefined);
    t.match(await mintAs(planId, 0, step.intentHash, out), { decision: 'deny', rule: 'capability.approval' }, 'the record was spent: a second mint gets nothing');
  });

  await t.test('a recorded approval is single use and bound to planId, step and intent', async (t) => {
    const h = 'c'.repeat(64);
    const rec = await auth.request<{ by: string; until: number }>('policy', 'approve_web', { planId: 'plan-bound', step: 0, intentHash: h, session: me.handle });
    t.equal(rec.by, `web:${me.handle}`);
    t.ok(rec.until > Date.now(), 'until a moment from now');
    t.match(await mintAs('plan-bound', 0, 'd'.repeat(64), out), { decision: 'deny', rule: 'capability.approval' }, 'another intent');
    t.match(await mintAs('plan-bound', 1, h, out), { decision: 'deny', rule: 'capability.approval' }, 'another step');
    t.match(await mintAs('plan-other', 0, h, out), { decision: 'deny', rule: 'capability.approval' }, 'another plan');
    const ok = await mintAs('plan-bound', 0, h, out);
    t.match(ok, { decision: 'allow', approvedBy: `web:${me.handle}` }, 'the exact step: a token');
    t.ok(ok.token, 'a token');
    t.match(await mintAs('plan-bound', 0, h, out), { decision: 'deny', rule: 'capability.approval' }, 'never twice');
  });

  await t.test('deny from the web: the task fails, nothing is written; cancel from the web ends a task', async (t) => {
    rmSync(out);
    const { planId } = await gateway.request<{ planId: string }>('agent', 'run_web', { task: 'a write to deny', session: me.handle });
    const v = await waitFor(planId, 'the write to wait', (x) => x.awaiting === 0);
    await t.rejects(act(planId, 0, v.plan![0]!.intentHash, 'deny', 'wrong again'), { code: ErrorCode.WRONG_PASSPHRASE });
    t.match(await act(planId, 0, v.plan![0]!.intentHash, 'deny'), { planId, state: 'failed' });
    const f = await waitFor(planId, 'failed', ended);
    t.match(f, { state: 'failed', reason: 'step.denied', detail: `by web:${me.handle}` });
    t.notOk(existsSync(out), 'nothing written');
    t.notOk(events.some((e) => e.subject === 'secai.evt.policy.web_approved' && e.data['planId'] === planId), 'a denial records no approval');

    const c = (await gateway.request<{ planId: string }>('agent', 'run_web', { task: 'a write to cancel', session: me.handle })).planId;
    await waitFor(c, 'the write to wait', (x) => x.awaiting === 0);
    t.match(await gateway.request('agent', 'cancel_web', { planId: c, session: me.handle }), { planId: c, state: 'cancelled' });
    t.match(await status(c), { state: 'cancelled', detail: `by web:${me.handle}` });
  });
});
