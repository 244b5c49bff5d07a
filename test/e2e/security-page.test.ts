// E2E on the real appliance in real Chromium: a replayed signed command opens an incident that appears on the open
// Security page without a reload, contained (the airlock disabled) with its timeline and evidence; a wrong passphrase
// acknowledges nothing, resolving before acknowledging is refused, then the operator acknowledges and resolves it with
// the passphrase; the timeline and the audit chain name the web operator's session. Integrity and attestation shown.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { signCommand } from '../../bus/envelope.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { ErrorCode } from '../../common/errors.js';
import { homePaths } from '../../common/paths.js';
import { disposeAppliance, setupCode, startAppliance } from '../helpers/appliance.js';
import { openBrowser } from '../helpers/browser.js';
import { cleanup, fastPolicyDir } from '../helpers/vault-actor.js';
import { httpFetch } from '../helpers/http.js';

t.setTimeout(300_000);
const P = 'owner passphrase for the security page';
// Containment that leaves the browser's session alone (the default for this class ends every session): disable the airlock.
const policy = fastPolicyDir((y) => y.replace(/^(\s+unauthorized_access:) \{ high: \[end_sessions\], critical: \[end_sessions, lock_vault\] \}$/m, '$1 { high: [disable_airlock], critical: [disable_airlock] }'));
const a = await startAppliance({ headless: false, env: { SECAI_CONFIG: policy }, timeoutMs: 60_000 });
const paths = homePaths(a.home);
const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
const b = await openBrowser();
t.teardown(async () => { await b.close(); await cli.close(); await disposeAppliance(a); cleanup(policy); });
const page = b.page;

interface Summary { id: string; class: string; key: string; state: string; count: number; steps: { action: string; status: string }[] }
const listed = (): Summary[] => a.ctl(['incidents', 'list', '--json']).json().incidents;
/** The owner's tab calling the gateway with its own session (cookie + this tab's proof). */
const ownerCall = async (method: string, path: string, body?: unknown) => await page.evaluate(`(async () => {
  const r = await fetch(${JSON.stringify(path)}, { method: ${JSON.stringify(method)}, headers: { 'content-type': 'application/json', 'x-csrf-token': sessionStorage.getItem('secai.csrf') ?? '' }${body === undefined ? '' : `, body: ${JSON.stringify(JSON.stringify(body))}`} });
  return { status: r.status, body: await r.json() };
})()`) as { status: number; body: any };
let incidentId = '';

t.test('security page — signed in, the page shows incidents live, integrity and attestation', async (t) => {
  t.match(readFileSync(join(policy, 'policy.yaml'), 'utf8'), /unauthorized_access: \{ high: \[disable_airlock\]/, 'the premise: this appliance contains the class by disabling the airlock');
  const setup = await httpFetch(`${a.httpUrl}/api/auth/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ passphrase: P, setupCode: setupCode(a) }) });
  t.equal(setup.status, 200, 'first-run setup');
  await page.goto(`${a.httpUrl}/security`);
  await page.getByLabel('Passphrase').fill(P);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Security' }).waitFor();
  await page.getByTestId('incidents-live').getByText('live').waitFor();
  await page.getByTestId('incidents-unresolved').waitFor();
  await page.getByTestId('attest-state').getByText('attested').waitFor();
  t.equal(await page.getByTestId('attest-mode').textContent(), 'software-only', 'no TPM configured: the declared software-only mode');
  await page.getByTestId('integrity-state').waitFor();
  t.match(await page.getByTestId('integrity-state').textContent(), /^(trusted|degraded|recovery_required)$/, 'the integrity state is shown');
});

t.test('security page — a replayed signed command appears on the open page without a reload, contained, with evidence', async (t) => {
  // A marker on the window: still there afterwards means the page was never reloaded.
  await page.evaluate('window.__sameDocument = true');
  const env = await signCommand(key, 'secai.cmd.registry.list', {});
  await cli.requestSubject('secai.cmd.registry.list', env, 5000);
  await t.rejects(cli.requestSubject('secai.cmd.registry.list', env, 5000), { code: ErrorCode.REPLAYED }, 'the replay is refused');
  const row = page.locator(`tr[data-class="unauthorized_access"][data-state="contained"]`);
  await row.waitFor({ timeout: 30_000 });
  incidentId = (await row.getAttribute('data-incident'))!;
  t.ok(await page.evaluate('window.__sameDocument === true'), 'the same document: the row arrived on the live stream');
  const i = listed().find((x) => x.id === incidentId)!;
  t.match(i, { class: 'unauthorized_access', key: `command:${key.keyId}`, state: 'contained', steps: [{ action: 'disable_airlock', status: 'done' }] });
  t.equal(a.ctl(['airlock', 'status', '--json']).json().enabled, false, 'containment on the airlock itself: disabled');

  await row.getByRole('button', { name: 'unauthorized access' }).click();
  const detail = page.getByTestId('incident-detail');
  await detail.locator('li[data-action="disable_airlock"][data-status="done"]').waitFor();
  await detail.locator('table.timeline tr[data-state="contained"]').waitFor();
  t.ok(await detail.getByText(/detections? kept/).isVisible(), 'the evidence is listed');
  await detail.locator('details summary').first().click();
  t.match(await detail.locator('pre.evidence').first().textContent(), new RegExp(env.nonce), 'the evidence names the replayed nonce');
  t.equal(await detail.getByRole('button', { name: 'Resolve…' }).count(), 0, 'no Resolve before an acknowledgement');
  await b.shot('security-incident-contained');
});

t.test('security page — a wrong passphrase acknowledges nothing; resolving first is refused; nothing changes', async (t) => {
  const detail = page.getByTestId('incident-detail');
  await detail.getByRole('button', { name: 'Acknowledge…' }).click();
  const dialog = page.getByRole('dialog', { name: `Acknowledge incident ${incidentId}?` });
  await dialog.getByLabel('Passphrase').fill('not the passphrase at all');
  await dialog.getByRole('button', { name: 'Yes, acknowledge' }).click();
  await dialog.getByTestId('act-error').getByText(/SECAI_E_WRONG_PASSPHRASE/).waitFor();
  t.pass('the dialog says the passphrase was wrong');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  t.equal(listed().find((x) => x.id === incidentId)!.state, 'contained', 'still contained');
  t.equal(await page.locator(`tr[data-incident="${incidentId}"]`).getAttribute('data-state'), 'contained', 'and so says the page');

  const early = await ownerCall('POST', `/api/incidents/${incidentId}/resolve`, { passphrase: P });
  t.equal(early.status, 409, 'resolve before acknowledge: 409');
  t.equal(early.body.error.code, ErrorCode.INVALID_STATE);
  t.match(early.body.error.message, /acknowledgement first/);
  const noPass = await ownerCall('POST', `/api/incidents/${incidentId}/ack`, {});
  t.equal(noPass.status, 400, 'no passphrase: 400');
  const unknown = await ownerCall('POST', '/api/incidents/inc-nosuchincident/ack', { passphrase: P });
  t.equal(unknown.status, 404, 'an unknown incident: 404');
  const badId = await ownerCall('GET', '/api/incidents/..%2F..%2Fkeys');
  t.equal(badId.status, 400, 'not an incident id: refused before the bus');
  const noSession = await httpFetch(`${a.httpUrl}/api/incidents/${incidentId}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ passphrase: P }) });
  t.equal(noSession.status, 401, 'without a session: 401');
  t.equal(listed().find((x) => x.id === incidentId)!.state, 'contained', 'after all of that: still contained');
  // The chain commits events a moment after they are published: wait (bounded) for the three refusals.
  let refused: { id: string }[] = [];
  for (const end = Date.now() + 30_000; refused.length < 3 && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    refused = a.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.auth.incident_act_refused', '--json']).json().records.map((r: { payload: { id: string } }) => r.payload);
  }
  t.match(refused, [{ id: incidentId, action: 'ack', code: ErrorCode.WRONG_PASSPHRASE }, { id: incidentId, action: 'resolve', code: ErrorCode.INVALID_STATE }, { id: 'inc-nosuchincident', action: 'ack' }], 'each refusal is in the audit chain');
});

t.test('security page — acknowledge then resolve with the passphrase; the page follows live; the web operator is recorded', async (t) => {
  const detail = page.getByTestId('incident-detail');
  const row = page.locator(`tr[data-incident="${incidentId}"]`);
  await detail.getByRole('button', { name: 'Acknowledge…' }).click();
  let dialog = page.getByRole('dialog', { name: `Acknowledge incident ${incidentId}?` });
  await dialog.getByLabel('Passphrase').fill(P);
  await dialog.getByLabel('Note (optional)').fill('looked at it: my own test replay');
  await dialog.getByRole('button', { name: 'Yes, acknowledge' }).click();
  await page.getByTestId('act-done').getByText(`Incident ${incidentId} acknowledged.`).waitFor();
  await page.locator(`tr[data-incident="${incidentId}"][data-state="acknowledged"]`).waitFor();
  await detail.locator('table.timeline tr[data-state="acknowledged"]').waitFor();
  const by = await detail.locator('table.timeline tr[data-state="acknowledged"]').getByTestId('timeline-by').textContent();
  t.match(by, /^web operator \(session [0-9a-f]{16}\)$/, 'the timeline names the web operator by session handle');

  await detail.getByRole('button', { name: 'Resolve…' }).click();
  dialog = page.getByRole('dialog', { name: `Resolve incident ${incidentId}?` });
  await dialog.getByLabel('Passphrase').fill(P);
  await dialog.getByRole('button', { name: 'Yes, resolve' }).click();
  await row.and(page.locator('[data-state="resolved"]')).waitFor();
  t.equal(listed().find((x) => x.id === incidentId)!.state, 'resolved', 'resolved in the incident actor');
  t.equal(await detail.getByRole('button', { name: /Acknowledge…|Resolve…/ }).count(), 0, 'nothing left to do');

  const shown = a.ctl(['incidents', 'show', incidentId, '--json']).json();
  t.match(shown.timeline.filter((x: { state: string }) => x.state === 'acknowledged' || x.state === 'resolved'),
    [{ state: 'acknowledged', by: by!, note: 'looked at it: my own test replay' }, { state: 'resolved', by: by! }]);
  type Rec = { subject: string; payload: { by?: string; incident: { id: string } } };
  let mine: [string | undefined, string | null][] = [];
  for (const end = Date.now() + 30_000; mine.length < 4 && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    const recs = a.ctl(['audit', 'tail', '-n', '300', '--subject', 'secai.evt.incident.', '--json']).json().records as Rec[];
    mine = recs.filter((r) => r.payload.incident?.id === incidentId).map((r) => [r.subject.split('.').at(-1), r.payload.by ?? null]);
  }
  t.match(mine, [['opened', null], ['contained', null], ['acknowledged', by], ['resolved', by]], 'the audit chain has each transition and who');
  await b.shot('security-incident-resolved');
  t.same(b.problems.filter((p) => /Content Security Policy|Refused to|pageerror/i.test(p)), [], 'no CSP violation or script error');
});
