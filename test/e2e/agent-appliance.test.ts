// End to end with the real appliance (`secai up`, every actor its own process): a planner model goes through the
// quarantine like any download, the agent plans with it through the inference actor (loaded on demand, sandboxed),
// its write waits for the operator, `securectl agent approve` signs the approval, policy mints the token and the tool
// firewall writes the file; a second task denied writes nothing; the chain of evidence is in the audit log.
// The planner is the scripted GGUF of test/fixtures/scripted-llama.ts: under the plan grammar and greedy decoding it
// chooses fs.write and writes `draft` into every string, whatever the task says.
import t from 'tap';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { PlanView } from '../../actors/agent/manifest.js';
import { taskEnded } from '../../contracts/agent-web.js';
import { disposeAppliance, startAppliance, type Appliance } from '../helpers/appliance.js';
import { until } from '../helpers/until.js';
import { fastPolicyDir } from '../helpers/vault-actor.js';
import { writePlannerLlama } from '../fixtures/scripted-llama.js';
import { PLANNED } from '../helpers/planner-inference.js';
import { homePaths } from '../../common/paths.js';

t.setTimeout(400_000);
const config = fastPolicyDir();
const agentYaml = parse(readFileSync(join(config, 'agent.yaml'), 'utf8'));
Object.assign(agentYaml, { enabled: true, tools: ['fs.read', 'fs.write'], planner_temperature: 0, require_plan_approval: false });
writeFileSync(join(config, 'agent.yaml'), stringify(agentYaml));

let app: Appliance;
t.before(async () => {
  app = await startAppliance({ env: { SECAI_CONFIG: config, SECAI_QUARANTINE_SETTLE_MS: '200' }, timeoutMs: 60_000 });
});
t.teardown(async () => {
  if (app) await disposeAppliance(app);
  rmSync(config, { recursive: true, force: true });
});

const more = () => app.output().slice(-3000);
const plan = (planId: string): PlanView => (app.ctl(['agent', 'status', planId, '--json']).json().plans as PlanView[])[0]!;
const waitPlan = (planId: string, what: string, ok: (v: PlanView) => boolean) =>
  until(what, () => { const v = plan(planId); return ok(v) ? v : undefined; }, 120_000, () => `${JSON.stringify(plan(planId))}\n${more()}`);
const ended = (v: PlanView) => taskEnded(v.state);

t.test('agent on the appliance — a quarantined planner plans a write; it waits, runs once approved by a signed command, and a denied one writes nothing', async (t) => {
  const incoming = join(app.home, 'quarantine', 'incoming');
  mkdirSync(incoming, { recursive: true });
  writePlannerLlama(join(incoming, '.planner.gguf.part'), PLANNED);
  renameSync(join(incoming, '.planner.gguf.part'), join(incoming, 'planner.gguf'));
  const job = await until('a verdict on the planner', () => {
    const jobs = app.ctl(['models', 'jobs', '--json']).json().jobs as { name: string; state: string; reason: string }[];
    return jobs.find((j) => j.name === 'planner.gguf' && ['promoted', 'rejected', 'held'].includes(j.state));
  }, 150_000, more);
  t.equal(job.state, 'promoted', `the planner passed the quarantine: ${job.reason}`);
  const model = (app.ctl(['models', 'list', '--json']).json().models as { name: string }[])[0]!.name;

  // Not loaded by hand: the agent's planning request loads it (inference.load_on_demand).
  const run = app.ctl(['agent', 'run', 'put a draft of the release notes in the workspace', '--model', model, '--json']);
  t.equal(run.code, 0, `securectl agent run ${run.stderr}`);
  const { planId } = run.json() as { planId: string };
  const out = join(homePaths(app.home).workspace, PLANNED);
  const waiting = await waitPlan(planId, 'the write to wait for approval', (v) => v.awaiting === 0 || ended(v));
  t.equal(waiting.phase, 'awaiting_approval', `the write waits (${waiting.state} ${waiting.reason ?? ''} ${waiting.detail ?? ''})`);
  t.same(waiting.plan!.map((s) => [s.tool, s.args]), [['fs.write', { path: out, content: PLANNED }]], 'the model planned the write, in the workspace');
  t.notOk(existsSync(out), 'nothing written while it waits');

  const approve = app.ctl(['agent', 'approve', planId, '0', '--json']);
  t.equal(approve.code, 0, `securectl agent approve ${approve.stderr}`);
  const done = await waitPlan(planId, 'the approved write to end', ended);
  t.equal(done.state, 'completed', `the approved task completed ${done.reason ?? ''} ${done.detail ?? ''}`);
  t.equal(readFileSync(out, 'utf8'), PLANNED, 'written once approved');
  t.match(done.evidence[0], { tool: 'fs.write', decision: 'ask', rule: 'fs-write' }, 'policy asked for the approval (rule fs-write)');
  t.ok(done.evidence[0]!.approvedBy && done.evidence[0]!.nonce && done.evidence[0]!.resultHash, 'approved by a key, run on a token, its result hashed');

  // The same task again, denied: it fails and the file it planned is not written.
  rmSync(out);
  const again = app.ctl(['agent', 'run', 'put a draft of the release notes in the workspace', '--model', model, '--json']).json() as { planId: string };
  await waitPlan(again.planId, 'the second write to wait', (v) => v.awaiting === 0);
  const deny = app.ctl(['agent', 'deny', again.planId, '0', '--note', 'not now']);
  t.equal(deny.code, 0, `securectl agent deny ${deny.stderr}`);
  const denied = await waitPlan(again.planId, 'the denied task to end', ended);
  t.equal(denied.state, 'failed', 'a denied write fails its task');
  t.notOk(existsSync(out), 'a denied write writes nothing');

  // The evidence an auditor reads: the approved call in the hash chain, with the key and the token's nonce.
  const records = await until('the approved call in the audit chain', () => {
    const recs = app.ctl(['audit', 'tail', '-n', '1000', '--json']).json().records as { subject: string; payload: Record<string, unknown> }[];
    return recs.some((r) => r.subject === 'secai.evt.tool-firewall.called' && r.payload['planId'] === planId) ? recs : undefined;
  }, 30_000, more);
  const call = records.find((r) => r.subject === 'secai.evt.tool-firewall.called' && r.payload['planId'] === planId)!;
  t.match(call.payload, { decision: 'allow', tool: 'fs.write', approvedBy: done.evidence[0]!.approvedBy, nonce: done.evidence[0]!.nonce }, 'the firewall\'s call record names the approver and the token');
  t.notOk(records.some((r) => r.subject === 'secai.evt.tool-firewall.called' && r.payload['planId'] === again.planId && r.payload['decision'] === 'allow'), 'no allowed call for the denied task');
  t.ok(records.some((r) => r.subject === 'secai.evt.inference.model_loaded' && JSON.stringify(r.payload).includes('"sandboxed":true')), 'the planner was loaded on demand, sandboxed');
  t.equal(app.ctl(['audit', 'verify', '--json']).code, 0, 'the audit chain verifies');
});
