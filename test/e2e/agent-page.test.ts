// E2E in real Chromium: the Agent page against the real policy, vault, auth, tool-firewall and agent actors (processes
// from sources on a real bus), the gateway's real routes and auth guard, and the inference ops in this process with a
// real llama.cpp worker. The planner is a model: a scripted GGUF whose weights make it, under the plan grammar and
// greedy decoding, choose fs.write among the offered tools and write `draft` into every string (so the task plans
// fs.write { path: draft, content: draft }, the path taken from the workspace). A sensitive task waits for its plan,
// then for its write, with the content shown; a wrong passphrase changes nothing; the passphrase again approves and
// the file is written; a task denied from the page fails and writes nothing.
import t from 'tap';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { decode } from '../../bus/codec.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { homePaths } from '../../common/paths.js';
import { issueSetupCode } from '../../common/setup-code.js';
import type { PlanView } from '../../actors/agent/manifest.js';
import { authGuard } from '../../actors/gateway/auth-guard.js';
import { createGatewayServer, createRouter, HTTP_TIMEOUTS } from '../../actors/gateway/http.js';
import { CLOSED_LOCAL_API } from '../../actors/gateway/origin-check.js';
import { agentRoutes } from '../../actors/gateway/routes/agent.js';
import { authRoutes } from '../../actors/gateway/routes/auth.js';
import { uiRoutes } from '../../actors/gateway/routes/ui.js';
import { MANIFESTS } from '../../runtime/catalog.js';
import { openBrowser } from '../helpers/browser.js';
import { startTestBus } from '../helpers/bus.js';
import { PLANNED, servePlannerInference } from '../helpers/planner-inference.js';
import { until } from '../helpers/until.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

t.setTimeout(300_000);
const P = 'owner passphrase for the agent page';
const observer = defineManifest({
  name: 'agent-page-observer', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: ['agent.status'],
  subscribes: ['auth.agent_act_refused', 'policy.web_approved'],
});

const config = fastPolicyDir();
const agentYaml = parse(readFileSync(join(config, 'agent.yaml'), 'utf8'));
Object.assign(agentYaml, { enabled: true, tools: ['fs.read', 'fs.write'], model: 'planner', planner_temperature: 0, require_plan_approval: false });
writeFileSync(join(config, 'agent.yaml'), stringify(agentYaml));
const bus = await startTestBus([...MANIFESTS, observer], { streams: true });
const ws = join(bus.paths.home, 'workspace');
mkdirSync(ws, { recursive: true });
const log = createLogger('agent-page', 'error');
// The inference actor's ops, in this process, over the scripted planner model.
const inference = await servePlannerInference(bus, [...MANIFESTS, observer]);
const events: { subject: string; data: Record<string, unknown> }[] = [];
const eyes = await bus.connect('agent-page-observer');
for (const s of ['secai.evt.auth.agent_act_refused', 'secai.evt.policy.web_approved']) eyes.subscribe(s, (m) => { events.push({ subject: m.subject, data: decode(m.data) as Record<string, unknown> }); });
await eyes.nc.flush();

await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);
const children: ChildProcess[] = [];
for (const name of ['policy', 'vault', 'auth', 'tool-firewall', 'agent']) children.push(await startActorProcess(bus, name, config));

// The gateway's routes and guard, under the gateway's identity, on a loopback port.
const gb = await bus.connect('gateway');
let port = 0;
const deps = { bus: gb, log, paths: homePaths(bus.paths.home), configDir: config };
const server = createGatewayServer(createRouter([...authRoutes(deps), ...agentRoutes(deps), ...uiRoutes({ headless: false })], () => port,
  authGuard(gb, { port: () => port, localApi: CLOSED_LOCAL_API }), HTTP_TIMEOUTS), HTTP_TIMEOUTS);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
port = (server.address() as AddressInfo).port;
const url = `http://127.0.0.1:${port}`;
await gb.request('auth', 'setup', { passphrase: P, setupCode: issueSetupCode(bus.paths.run, false)! }, 30_000);

const b = await openBrowser();
t.teardown(async () => {
  await b.close();
  await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  for (const c of children) await killHard(c);
  await inference.stop();
  await bus.stop();
  cleanup(config);
});
const page = b.page;

const plans = async () => (await eyes.request<{ plans: PlanView[] }>('agent', 'status', {})).plans;
const planFor = async (task: string) => until(`the task "${task}"`, async () => (await plans()).find((p) => p.task === task), 30_000, () => '');
/** What the planner model plans: fs.write of `draft` (relative, so in the workspace) with the content `draft`. */
const out = join(ws, PLANNED);
const content = PLANNED;
const detail = (planId: string) => page.locator(`[data-testid="agent-task"][data-plan="${planId}"]`);
/** Runs a task from the page and selects it. */
async function runFromPage(task: string, mode: string): Promise<string> {
  await page.getByLabel('Task', { exact: true }).fill(task);
  await page.getByLabel('Mode', { exact: true }).selectOption(mode);
  await page.getByRole('button', { name: 'Run' }).click();
  const p = await planFor(task);
  await page.locator(`table.agent-tasks tr[data-plan="${p.planId}"] button`).click();
  return p.planId;
}
async function act(planId: string, action: 'Approve' | 'Deny', what: string, passphrase: string) {
  await detail(planId).getByRole('button', { name: `${action}…` }).click();
  const dialog = page.getByRole('dialog', { name: `${action} ${what}?` });
  await dialog.getByLabel('Passphrase').fill(passphrase);
  await dialog.getByRole('button', { name: `Yes, ${action.toLowerCase()}` }).click();
  return dialog;
}

t.test('agent page — sign in; a sensitive task waits for its plan, then for its write, showing the content', async (t) => {
  await page.goto(`${url}/agent`);
  await page.getByLabel('Passphrase').fill(P);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Agent', exact: true }).waitFor();
  await page.getByTestId('no-tasks').waitFor();

  const planId = await runFromPage('summarize to a file', 'sensitive');
  const d = detail(planId);
  // The plan waits (step -1): drawn as the plan machine's state, with the write it will do.
  await d.and(page.locator('[data-state="pending_approval"]')).waitFor({ timeout: 30_000 });
  t.equal(await d.locator('ol.agent-states li[aria-current="step"]').textContent(), 'pending approval', 'the state row marks pending approval');
  t.equal(await d.getByTestId('agent-waiting').getAttribute('data-step'), '-1', 'the plan waits');
  t.equal(await d.locator('tr[data-step="0"]').getByTestId('write-content').textContent(), content, 'the plan shows the content to be written');
  t.same((await plans()).find((p) => p.planId === planId)!.plan!.map((s) => [s.tool, s.args]), [['fs.write', { path: out, content }]], 'the model planned the write; the path is resolved in the workspace');
  await b.shot('agent-page-plan');

  const dialog = await act(planId, 'Approve', 'the plan', 'not the passphrase at all');
  await dialog.getByTestId('act-error').getByText(new RegExp(ErrorCode.WRONG_PASSPHRASE)).waitFor();
  t.pass('a wrong passphrase: the dialog says so');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  t.match((await plans()).find((p) => p.planId === planId), { state: 'pending_approval', awaiting: -1 }, 'still waiting for the plan');
  await until('the refusal evented', () => events.some((e) => e.subject === 'secai.evt.auth.agent_act_refused' && e.data['planId'] === planId && e.data['code'] === ErrorCode.WRONG_PASSPHRASE) || undefined);

  await act(planId, 'Approve', 'the plan', P);
  // The step: sensitive asks for every step; the write is what policy asks about anyway.
  await d.and(page.locator('[data-phase="awaiting_approval"][data-awaiting="0"]')).waitFor({ timeout: 30_000 });
  const waiting = d.getByTestId('agent-waiting');
  t.equal(await waiting.getAttribute('data-step'), '0');
  t.equal(await waiting.getByTestId('write-path').textContent(), out, 'the path the write will touch');
  t.equal(await waiting.getByTestId('write-content').textContent(), content, 'and exactly what it will write');
  t.match(await d.locator('tr[data-step="0"]').getByTestId('decision').textContent(), /ask.*fs-write/, 'policy asked (rule fs-write)');
  t.notOk(existsSync(out), 'nothing written yet');
  await b.shot('agent-page-step');
});

t.test('agent page — a wrong passphrase changes nothing; the passphrase again writes the file', async (t) => {
  const p = (await plans()).find((x) => x.task === 'summarize to a file')!;
  const dialog = await act(p.planId, 'Approve', 'step 0', 'wrong passphrase again');
  await dialog.getByTestId('act-error').getByText(new RegExp(ErrorCode.WRONG_PASSPHRASE)).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  t.match((await plans()).find((x) => x.planId === p.planId), { state: 'running', phase: 'awaiting_approval', awaiting: 0 }, 'still waiting');
  t.notOk(existsSync(out), 'nothing written');
  t.notOk(events.some((e) => e.subject === 'secai.evt.policy.web_approved' && e.data['planId'] === p.planId), 'no approval was recorded');

  await act(p.planId, 'Approve', 'step 0', P);
  const d = detail(p.planId);
  await d.and(page.locator('[data-state="completed"]')).waitFor({ timeout: 30_000 });
  t.equal(readFileSync(out, 'utf8'), content, 'written once approved');
  t.match(await d.locator('tr[data-step="0"]').getByTestId('approved-by').textContent(), /^web:[0-9a-f]{16}$/, 'approved by the web session');
  t.match(await d.locator('tr[data-step="0"]').getByTestId('summary').textContent(), /wrote \d+ bytes/, 'the step summary');
  const v = (await plans()).find((x) => x.planId === p.planId)!;
  t.match(v.planApprovedBy, /^web:[0-9a-f]{16}$/);
  t.ok(v.evidence[0]!.nonce && v.evidence[0]!.resultHash, 'a token nonce and a result hash');
  t.ok(events.some((e) => e.subject === 'secai.evt.policy.web_approved' && e.data['planId'] === p.planId && e.data['step'] === 0), 'policy recorded the web approval');
  await b.shot('agent-page-completed');
});

t.test('agent page — a write denied from the page fails the task and writes nothing', async (t) => {
  rmSync(out);
  const planId = await runFromPage('write something to refuse', 'standard');
  const d = detail(planId);
  await d.and(page.locator('[data-phase="awaiting_approval"][data-awaiting="0"]')).waitFor({ timeout: 30_000 });
  t.equal(await d.getByTestId('agent-waiting').getByTestId('write-content').textContent(), content);
  await act(planId, 'Deny', 'step 0', P);
  await d.and(page.locator('[data-state="failed"]')).waitFor({ timeout: 30_000 });
  t.match(await d.getByTestId('agent-reason').textContent(), /^step\.denied: by web:[0-9a-f]{16}$/, 'failed: denied by the web session');
  t.match(await d.locator('tr[data-step="0"]').getByTestId('step-error').textContent(), /step\.denied/);
  t.notOk(existsSync(out), 'nothing written');
  t.match((await plans()).find((x) => x.planId === planId), { state: 'failed', reason: 'step.denied' });

  // Without a session, or with a malformed body, the routes refuse before the bus.
  const noSession = await fetch(`${url}/api/agent/${planId}/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ step: 0, intentHash: 'a'.repeat(64), passphrase: P }) });
  t.equal(noSession.status, 401, 'without a session: 401');
  const ownerCall = async (path: string, body: unknown) => await page.evaluate(`(async () => {
    const r = await fetch(${JSON.stringify(path)}, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': sessionStorage.getItem('secai.csrf') ?? '' }, body: ${JSON.stringify(JSON.stringify(body))} });
    return { status: r.status, body: await r.json() };
  })()`) as { status: number; body: { error?: { code: string } } };
  t.equal((await ownerCall(`/api/agent/${planId}/approve`, { step: 0, intentHash: 'nothex', passphrase: P })).status, 400, 'not a hash: 400');
  t.equal((await ownerCall(`/api/agent/${planId}/approve`, { step: 0, intentHash: 'a'.repeat(64) })).status, 400, 'no passphrase: 400');
  const ended = await ownerCall(`/api/agent/${planId}/approve`, { step: 0, intentHash: 'a'.repeat(64), passphrase: P });
  t.equal(ended.status, 409, 'an ended task approves nothing: 409');
  t.equal(ended.body.error?.code, ErrorCode.APPROVAL_MISMATCH);
  t.same(b.problems.filter((p) => /Content Security Policy|Refused to|pageerror/i.test(p)), [], 'no CSP violation or script error');
  await b.shot('agent-page-denied');
});
