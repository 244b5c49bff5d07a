// Containment on the real appliance: a registry model changed on disk opens a manifest_mismatch that suspends and
// evicts it (load refused with SECAI_E_MODEL_SUSPENDED, across a restart) until a signed, fresh unsuspend; a replayed
// signed command ends every web session; a suspension record edited behind the registry suspends every model; and
// no identity but the incident actor may ask the containment ops.
import t from 'tap';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { signCommand } from '../../bus/envelope.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { ErrorCode } from '../../common/errors.js';
import { homePaths } from '../../common/paths.js';
import { parsePolicy } from '../../policy/snapshot.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { disposeAppliance, ROOT, setupCode, startAppliance, type Appliance } from '../helpers/appliance.js';
import { policyText } from '../policy/helpers.js';
import { httpFetch } from '../helpers/http.js';

const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
const models = mkdtempSync(join(tmpdir(), 'secai-models-'));
t.teardown(() => { rmSync(config, { recursive: true, force: true }); rmSync(models, { recursive: true, force: true }); });
for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
const base = parsePolicy(policyText(), 'policy.yaml', '/h').value as unknown as Record<string, Record<string, unknown>>;
// Stage 6 off: the import is a promotion in seconds (the behavioural stage has its own tests).
writeFileSync(join(config, 'policy.yaml'), policyText({ inference: { ...base['inference'], behavioral: { ...(base['inference']!['behavioral'] as object), enabled: false } } }));
const env = { SECAI_CONFIG: config, SECAI_TEST: '1' };

let a: Appliance = await startAppliance({ env, timeoutMs: 60_000 });
t.teardown(() => disposeAppliance(a));
const paths = homePaths(a.home);
const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
const clients: BusClient[] = [];
t.teardown(() => Promise.all(clients.map((c) => c.close())));
const connect = async (who: string) => { const c = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, who), reconnect: false }); clients.push(c); return c; };
let cli = await connect('cli');

interface Summary { id: string; class: string; key: string; state: string; steps: { action: string; status: string; detail: string }[]; escalation: string | null }
interface Listed { name: string; sha256: string; suspended?: { by: string; reason: string; at: number } }
const incidents = (): Summary[] => a.ctl(['incidents', 'list', '--json']).json().incidents;
const listed = (): Listed[] => {
  const r = a.ctl(['models', 'list', '--json']);
  if (r.code !== 0) throw new Error(`models list: ${r.stdout}${r.stderr}`);
  return r.json().models;
};
async function until<T>(what: string, get: () => T | Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms: ${JSON.stringify(v).slice(0, 3000)}\n${a.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
async function http(method: string, path: string, o: { cookie?: string; csrf?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (o.cookie !== undefined) headers.cookie = `secai_session=${o.cookie}`;
  if (o.csrf !== undefined) headers['x-csrf-token'] = o.csrf;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const r = await httpFetch(a.httpUrl + path, { method, headers, ...(o.body !== undefined && { body: JSON.stringify(o.body) }) });
  const m = /secai_session=([^;]*)/.exec(r.headers.getSetCookie().join('\n'));
  const body = (await r.json().catch(() => null)) as { csrf?: string } | null; // lint-ok: a body that is not JSON is null; the status tells the rest
  return { status: r.status, body, cookie: m?.[1] };
}
const load = (name: string) => cli.command(key, 'inference', 'load', { name }, 60_000);

writeTinyLlama(join(models, 'tiny.gguf'));
const imported = a.ctl(['models', 'import', join(models, 'tiny.gguf'), '--json'], { timeoutMs: 180_000 });
if (imported.code !== 0) throw new Error(`not promoted: ${imported.stdout.slice(0, 2000)}${imported.stderr}\n${a.output().slice(-3000)}`);
const model = listed()[0]!;
// The signed suspension record as it is before any incident: what an attacker keeps to put back later.
const suspendedFile = join(paths.registry, 'suspended.json');
const recordBeforeIncident = readFileSync(suspendedFile);

t.test('contain — a web session ends when a replayed signed command opens unauthorized_access (contained, not escalated)', async (t) => {
  const setup = await http('POST', '/api/auth/setup', { body: { passphrase: 'correct horse battery staple', setupCode: setupCode(a) } });
  t.equal(setup.status, 200, JSON.stringify(setup.body));
  const s = { cookie: setup.cookie!, csrf: setup.body?.csrf ?? '' };
  t.equal((await http('GET', '/api/vault/status', s)).status, 200, 'the session works before');
  const envl = await signCommand(key, 'secai.cmd.registry.list', {});
  await cli.requestSubject('secai.cmd.registry.list', envl, 5000);
  await t.rejects(cli.requestSubject('secai.cmd.registry.list', envl, 5000), { code: ErrorCode.REPLAYED });
  const i = await until('the replay incident contained', incidents, (l) => l.some((x) => x.class === 'unauthorized_access' && x.state !== 'open'));
  const inc = i.find((x) => x.class === 'unauthorized_access')!;
  t.equal(inc.state, 'contained', JSON.stringify(inc));
  t.match(inc.steps, [{ action: 'end_sessions', status: 'done', detail: /1 web session\(s\) ended/ }]);
  t.equal(inc.escalation, null);
  t.equal((await http('GET', '/api/vault/status', s)).status, 401, 'the session cookie no longer works');
  // The event reaches the chain through the audit tap: wait (bounded) for it to be committed.
  const ended = await until('sessions_ended in the audit chain',
    () => a.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.auth.sessions_ended', '--json']).json().records as { payload: { count: number; by?: string } }[],
    (rs) => rs.some((r) => r.payload.by === inc.id));
  t.ok(ended.some((r) => r.payload.by === inc.id && r.payload.count === 1), 'auth recorded who ended them');
});

t.test('contain — a registry model changed on disk: manifest_mismatch suspends and evicts it; load refused with SECAI_E_MODEL_SUSPENDED', async (t) => {
  await t.resolves(load(model.name), 'the model loads before');
  const file = join(paths.registry, model.sha256, readdirSync(join(paths.registry, model.sha256))[0]!);
  chmodSync(join(file, '..'), 0o755);
  chmodSync(file, 0o644);
  const bytes = readFileSync(file);
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
  writeFileSync(file, bytes);
  t.equal(a.ctl(['models', 'verify', model.name]).code, 1, 'verify finds the change');
  const i = await until('the manifest_mismatch contained', incidents, (l) => l.some((x) => x.class === 'manifest_mismatch' && x.state !== 'open'));
  const inc = i.find((x) => x.class === 'manifest_mismatch')!;
  t.equal(inc.state, 'contained', JSON.stringify(inc));
  t.match(inc.steps, [{ action: 'suspend_model', status: 'done' }, { action: 'evict_model', status: 'done' }]);
  // The integrity monitor and the verify may each open one (their keys differ): whichever came first holds the suspension.
  const ids = incidents().filter((x) => x.class === 'manifest_mismatch').map((x) => x.id);
  t.ok(ids.includes(listed().find((m) => m.name === model.name)?.suspended?.by ?? ''), 'listed as suspended by a manifest_mismatch incident');
  // Evicted: by the evict step, or already by inference on the registry's suspended event (whichever came first).
  const unloaded = await until('the eviction in the audit chain', () => a.ctl(['audit', 'tail', '-n', '100', '--subject', 'secai.evt.inference.model_unloaded', '--json']).json().records as { payload: { name: string; reason?: string } }[],
    (rs) => rs.some((r) => r.payload.name === model.name && /evicted: suspended by incident/.test(r.payload.reason ?? '')), 10_000);
  t.ok(unloaded.length, 'the worker was unloaded, with the suspension as its reason');
  await t.rejects(load(model.name), { code: ErrorCode.MODEL_SUSPENDED }, 'a load is refused');
  await t.rejects(load(model.sha256), { code: ErrorCode.MODEL_SUSPENDED }, 'by its SHA-256 too');
  // A local program asking for it over HTTP (load on demand): 423 with the code, in the OpenAI and Ollama shapes.
  const openai = await httpFetch(`${a.httpUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: model.name, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }) });
  t.equal(openai.status, 423, 'OpenAI route: 423 Locked');
  t.match(await openai.json(), { error: { code: ErrorCode.MODEL_SUSPENDED } });
  const ollama = await httpFetch(`${a.httpUrl}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: model.name, prompt: 'hi', stream: false }) });
  t.equal(ollama.status, 423, 'Ollama route: 423 Locked');
  t.match(await ollama.text(), /suspended/);
  const ev = await until('registry.suspended in the audit chain',
    () => a.ctl(['audit', 'tail', '-n', '100', '--subject', 'secai.evt.registry.suspended', '--json']).json().records as { payload: { sha256: string; by: string } }[],
    (rs) => rs.some((r) => r.payload.sha256 === model.sha256));
  t.ok(ev.some((r) => r.payload.sha256 === model.sha256 && ids.includes(r.payload.by)), 'registry.suspended is in the audit chain');
});

t.test('contain — the suspension survives an appliance restart', async (t) => {
  await a.stop();
  a = await startAppliance({ home: a.home, env, timeoutMs: 60_000 });
  cli = await connect('cli');
  t.match(listed().find((m) => m.name === model.name), { suspended: { by: /./ } });
  await t.rejects(load(model.name), { code: ErrorCode.MODEL_SUSPENDED });
});

t.test('contain — the signed record from before the incident, put back while the appliance is down, does not lift the suspension', async (t) => {
  await a.stop();
  writeFileSync(suspendedFile, recordBeforeIncident);
  a = await startAppliance({ home: a.home, env, timeoutMs: 60_000 });
  cli = await connect('cli');
  t.match(listed().find((m) => m.name === model.name), { suspended: { by: 'unknown', reason: /older than record \d+ written last/ } });
  await t.rejects(load(model.name), { code: ErrorCode.MODEL_SUSPENDED });
});

t.test('contain — unsuspend: unsigned and replayed refused; signed by an operator clears it', async (t) => {
  await t.rejects(cli.requestSubject('secai.cmd.registry.unsuspend', { model: model.name }, 5000), { code: ErrorCode.SCHEMA }, 'unsigned');
  t.ok(listed().find((m) => m.name === model.name)?.suspended, 'still suspended');
  const envl = await signCommand(key, 'secai.cmd.registry.unsuspend', { model: model.name });
  const r = await cli.requestSubject<{ sha256: string; wasSuspendedBy: { by: string } }>('secai.cmd.registry.unsuspend', envl, 10_000);
  t.equal(r.sha256, model.sha256);
  await t.rejects(cli.requestSubject('secai.cmd.registry.unsuspend', envl, 5000), { code: ErrorCode.REPLAYED }, 'a replayed unsuspend is refused');
  t.equal(listed().find((m) => m.name === model.name)?.suspended, undefined, 'no longer suspended');
  // The file is still changed: the load now fails on its digest, not on the suspension.
  await t.rejects(load(model.name), { code: ErrorCode.DIGEST_MISMATCH });
  const ev = await until('registry.unsuspended in the audit chain',
    () => a.ctl(['audit', 'tail', '-n', '100', '--subject', 'secai.evt.registry.unsuspended', '--json']).json().records as { payload: { by: string } }[],
    (rs) => rs.length > 0);
  t.ok(ev.some((x) => x.payload.by === key.keyId), 'the operator key id is recorded');
  const again = a.ctl(['models', 'unsuspend', model.name, '--json']);
  t.equal(again.code, 2, 'a model that is not suspended is an error');
});

t.test('contain — a suspension record edited behind the registry suspends every model (fail closed) until unsuspended', async (t) => {
  const file = suspendedFile;
  const rec = JSON.parse(readFileSync(file, 'utf8')) as { suspended: unknown[] };
  t.same(rec.suspended, [], 'nothing suspended now');
  writeFileSync(file, readFileSync(file, 'utf8').replace('"seq": ', '"seq": 1'));
  await a.stop();
  a = await startAppliance({ home: a.home, env, timeoutMs: 60_000 });
  cli = await connect('cli');
  t.match(listed().find((m) => m.name === model.name), { suspended: { by: 'unknown', reason: /did not verify/ } });
  await t.rejects(load(model.name), { code: ErrorCode.MODEL_SUSPENDED });
  // A deleted record beside promoted models is as untrusted as an edited one.
  rmSync(file);
  await a.stop();
  a = await startAppliance({ home: a.home, env, timeoutMs: 60_000 });
  cli = await connect('cli');
  t.match(listed().find((m) => m.name === model.name), { suspended: { by: 'unknown', reason: /missing/ } });
  const r = a.ctl(['models', 'unsuspend', model.name, '--json']);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.equal(listed().find((m) => m.name === model.name)?.suspended, undefined, 'the operator cleared it (a fresh signed record)');
});

t.test('contain — no other identity may ask the containment ops (the bus refuses them)', async (t) => {
  const gateway = await connect('gateway');
  const req = { model: model.name, incidentId: 'forged-0001', reason: 'forged' };
  await t.rejects(gateway.request('registry', 'suspend', req, 3000), 'gateway → registry.suspend');
  await t.rejects(cli.request('registry', 'suspend', req, 3000), 'cli → registry.suspend');
  await t.rejects(gateway.request('inference', 'evict', req, 3000), 'gateway → inference.evict');
  await t.rejects(cli.request('auth', 'end_sessions', { incidentId: 'forged-0001', reason: 'forged' }, 3000), 'cli → auth.end_sessions');
  await t.rejects(gateway.request('auth', 'end_sessions', { incidentId: 'forged-0001', reason: 'forged' }, 3000), 'gateway → auth.end_sessions');
  t.equal(listed().find((m) => m.name === model.name)?.suspended, undefined, 'nothing was suspended');
  const ended = a.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.auth.sessions_ended', '--json']).json().records as { payload: { by?: string } }[];
  t.notOk(ended.some((r) => r.payload.by === 'forged-0001'), 'no forged end_sessions reached auth');
});
