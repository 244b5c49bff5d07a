// Browser imports through the gateway on a real bus with the real quarantine and policy actors: upload, path, URL, catalog.
import t from 'tap';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { MANIFESTS } from '../../runtime/catalog.js';
import { modelImportRoutes, uploadName } from '../../actors/gateway/routes/model-imports.js';
import { modelsRoutes } from '../../actors/gateway/routes/models.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';
import { serveRoutes } from '../helpers/route-server.js';
import { standInSession } from '../helpers/session-stand-in.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';
import { ROOT } from '../helpers/appliance.js';

const MAX = 3 * 1024 * 1024;
const bus = await startTestBus(MANIFESTS, { streams: true });
// Small policy limit for the size tests; the behavioral stage off (no model is run here).
const policy = fastPolicyDir((y) => y.replace(/^(\s*max_file_bytes:) \d+$/m, `$1 ${MAX}`).replace(/^(\s*behavioral_test:) optional$/m, '$1 off'));
const quarantine = await startActorProcess(bus, 'quarantine', policy);
const policyActor = await startActorProcess(bus, 'policy', policy);
const gw = await bus.connect('gateway');
const session = standInSession();
const deps = { bus: gw, log: createLogger('test'), paths: bus.paths, configDir: policy };
const srv = await serveRoutes([session.statusRoute, ...modelImportRoutes(deps), ...modelsRoutes(deps)], session.guard);
t.teardown(async () => { await srv.close(); await killHard(quarantine); await killHard(policyActor); await bus.stop(); cleanup(policy); });
const token = session.token;
const uploadsDir = join(bus.paths.quarantineWork, 'uploads');

interface Reply { status: number; json: any }

/** A raw upload: the body in pieces, with the Content-Length we choose (or none), optionally cut short. */
function upload(name: string, body: Buffer, o: { length?: number | null; csrf?: boolean; cutAfter?: number; headersOnly?: boolean } = {}): Promise<Reply> {
  const u = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { host: u.host, cookie: `secai_test=${session.cookie.value}`, 'content-type': 'application/octet-stream' };
    if (o.csrf !== false) headers['x-csrf-token'] = token;
    if (o.length !== null) headers['content-length'] = o.length ?? body.length;
    const req = request({ host: u.hostname, port: u.port, method: 'POST', path: `/api/models/upload?name=${encodeURIComponent(name)}`, headers }, (res) => {
      let d = '';
      res.on('data', (c) => (d += c));
      res.on('end', () => { resolve({ status: res.statusCode!, json: d ? JSON.parse(d) : null }); if (o.headersOnly) req.destroy(); });
    });
    req.on('error', (e) => (o.cutAfter !== undefined ? resolve({ status: 0, json: null }) : reject(e)));
    // Refused on the headers alone: the answer comes before any byte of the body is sent.
    if (o.headersOnly) { req.flushHeaders(); return; }
    if (o.cutAfter !== undefined) {
      req.write(body.subarray(0, o.cutAfter));
      setImmediate(() => req.destroy());
      return;
    }
    // Pieces of odd sizes: the gateway re-chunks them into 512 KiB bus messages.
    for (let at = 0; at < body.length; at += 100_003) req.write(body.subarray(at, at + 100_003));
    req.end();
  });
}

async function json(method: string, path: string, body?: unknown): Promise<Reply> {
  const r = await fetch(`${srv.url}${path}`, {
    method, headers: { cookie: `secai_test=${session.cookie.value}`, 'x-csrf-token': token, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: r.status, json: await r.json() };
}

const report = (id: string) => gw.request<{ name: string; origin: Record<string, unknown>; size: number }>('quarantine', 'get', { id });

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${what}`);
}

t.test('gateway imports — names: only the last segment, no control characters, no dot files', async (t) => {
  t.equal(uploadName('../x.gguf'), 'x.gguf');
  t.equal(uploadName('C:\\Users\\me\\tiny model (1).gguf'), 'tiny-model--1-.gguf');
  t.equal(uploadName('/etc/passwd'), 'passwd');
  for (const bad of ['a\0b.gguf', 'new\nline', '.hidden', '../..', '..', 'dir/', '', null, 'x'.repeat(256), '../.env']) {
    t.throws(() => uploadName(bad), { code: 'SECAI_E_IMPORT_REFUSED' }, `${JSON.stringify(bad)} refused`);
  }
});

t.test('gateway imports — an upload streams through in 512 KiB chunks and is queued as an upload', async (t) => {
  const body = Buffer.alloc(1_300_000);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;
  const r = await upload('../../up-one.gguf', body);
  t.equal(r.status, 200, JSON.stringify(r.json));
  t.match(r.json, { id: /^q/, name: 'up-one.gguf' });
  const rep = await report(r.json.id);
  t.same(rep.origin, { type: 'upload' });
  t.equal(rep.size, body.length, 'every byte arrived');
  t.same(readdirSync(uploadsDir), [], 'no partial upload left');
});

t.test('gateway imports — uploads refused before or during the body leave nothing behind', async (t) => {
  const small = Buffer.from('GGUF-not-really');
  const cases: [string, Promise<Reply>, number, string][] = [
    ['no Content-Length (chunked)', upload('a.gguf', small, { length: null }), 400, 'SECAI_E_USAGE'],
    ['over the policy limit', upload('a.gguf', small, { length: MAX + 1, headersOnly: true }), 400, 'SECAI_E_IMPORT_REFUSED'],
    ['a NUL in the name', upload('a\0b.gguf', small), 400, 'SECAI_E_IMPORT_REFUSED'],
    ['a dot file', upload('.bashrc', small), 400, 'SECAI_E_IMPORT_REFUSED'],
    ['no CSRF token', upload('a.gguf', small, { csrf: false }), 403, 'SECAI_E_CSRF'],
  ];
  for (const [what, p, status, code] of cases) {
    const r = await p;
    t.equal(r.status, status, `${what}: ${status}`);
    t.equal(r.json?.error?.code, code, what);
  }
  // The client goes away half-way: the gateway aborts the upload and the quarantine deletes the partial file.
  const cut = await upload('cut.gguf', Buffer.alloc(1_200_000, 1), { cutAfter: 700_000 });
  t.equal(cut.status, 0, 'the connection was cut');
  await until('the partial upload discarded', () => (readdirSync(uploadsDir).length === 0 ? true : undefined));
  t.pass('the partial upload was discarded');
  const jobs = (await gw.request<{ jobs: { name: string }[] }>('quarantine', 'list')).jobs.map((j) => j.name);
  t.notOk(jobs.includes('cut.gguf') || jobs.includes('a.gguf') || jobs.includes('bashrc'), 'no refused upload became a job');
});

t.test('gateway imports — by path: policy path_access decides (allowed under workspace/, denied elsewhere)', async (t) => {
  const ws = join(bus.paths.home, 'workspace');
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(ws, 'mine.gguf'), 'GGUF');
  const ok = await json('POST', '/api/models/import', { path: join(ws, 'mine.gguf') });
  t.equal(ok.status, 200, JSON.stringify(ok.json));
  t.match(ok.json, { name: 'mine.gguf' });
  t.same((await report(ok.json.id)).origin, { type: 'local' });
  t.ok(readdirSync(ws).includes('mine.gguf'), 'the original stays');

  mkdirSync(join(bus.paths.home, 'keys'), { recursive: true });
  writeFileSync(join(bus.paths.home, 'keys', 'secret.gguf'), 'GGUF');
  // Denied paths get the one refusal of every unimportable path (test/adversarial/quarantine-path-oracle.test.ts).
  for (const path of [join(bus.paths.home, 'keys', 'secret.gguf'), '/etc/hostname', join(ws, '..', 'keys', 'secret.gguf')]) {
    const r = await json('POST', '/api/models/import', { path });
    t.equal(r.status, 400, `${path}: 400`);
    t.equal(r.json.error.code, 'SECAI_E_IMPORT_REFUSED');
    t.match(r.json.error.message, /policy \(path_access\) does not allow/);
  }
  t.equal((await json('POST', '/api/models/import', { path: 'relative/x.gguf' })).json.error.code, 'SECAI_E_IMPORT_REFUSED');
  t.equal((await json('POST', '/api/models/import', { path: join(ws, 'missing.gguf') })).json.error.code, 'SECAI_E_IMPORT_REFUSED');
  t.equal((await json('POST', '/api/models/import', { path: join(ws, 'mine.gguf'), url: 'https://huggingface.co/x' })).json.error.code, 'SECAI_E_USAGE', 'one of path or url');
  t.equal((await json('POST', '/api/models/import', {})).json.error.code, 'SECAI_E_USAGE');
});

t.test('gateway imports — by URL: stage-1 rules first, then the airlock (not running here: fail closed)', async (t) => {
  const off = await json('POST', '/api/models/import', { url: 'https://huggingface.co/org/m/resolve/main/m.gguf' });
  t.equal(off.status, 503);
  t.equal(off.json.error.code, 'SECAI_E_AIRLOCK_UNAVAILABLE');
  const evil = await json('POST', '/api/models/import', { url: 'https://huggingface.co.evil.com/m.gguf' });
  t.equal(evil.json.error.code, 'SECAI_E_IMPORT_REFUSED', 'a lookalike host is refused before any egress');
});

t.test('gateway imports — the catalog lists the allowlisted sources and the upload limit in force', async (t) => {
  const r = await json('GET', '/api/models/catalog');
  t.equal(r.status, 200);
  t.same(Object.keys(r.json).sort(), ['catalog', 'ipLiterals', 'maxFileBytes', 'sources']);
  t.ok(r.json.sources.some((s: { host: string; subdomains: boolean }) => s.host === 'huggingface.co' && s.subdomains === false), 'huggingface.co');
  t.same(r.json.ipLiterals, []);
  // The number the browser checks before sending is the one the quarantine refuses by (this policy copy's limit).
  t.equal(r.json.maxFileBytes, MAX, 'maxFileBytes is policy quarantine.max_file_bytes');
  const atLimit = await upload('at-limit.gguf', Buffer.alloc(0), { length: r.json.maxFileBytes + 1, headersOnly: true });
  t.equal(atLimit.json?.error?.code, 'SECAI_E_IMPORT_REFUSED', 'one byte over the reported limit is refused by the server too');
  t.match(atLimit.json?.error?.message, new RegExp(`over the ${MAX}-byte limit`));
  t.same(readdirSync(uploadsDir), [], 'nothing left');
});

t.test('gateway imports — the signed model catalog: listed with its pins; an entry imports through the airlock (off here: fail closed)', async (t) => {
  const r = await json('GET', '/api/models/catalog');
  t.equal(r.json.catalog.signer.name, 'secai-catalog-2026', 'the shipped catalog verifies with the built-in publisher key');
  const first = r.json.catalog.models[0];
  t.match(first, { id: /^[a-z0-9]/, sourceUrl: /^https:\/\/huggingface\.co\//, sha256: /^[0-9a-f]{64}$/, license: /./, sizeBytes: Number });
  const off = await json('POST', '/api/models/import', { catalog: first.id });
  t.equal(off.json.error.code, 'SECAI_E_AIRLOCK_UNAVAILABLE', 'the download goes through the airlock, which is not running here');
  const unknown = await json('POST', '/api/models/import', { catalog: 'no-such-model' });
  t.equal(unknown.status, 404);
  t.equal(unknown.json.error.code, 'SECAI_E_CATALOG_UNKNOWN');
  t.equal((await json('POST', '/api/models/import', { catalog: '../etc/passwd' })).status, 400, 'an id that is no catalog id is refused by the schema');
  t.equal((await json('POST', '/api/models/import', { catalog: first.id, url: first.sourceUrl })).json.error.code, 'SECAI_E_USAGE', 'exactly one of path, url, catalog');
  // Without its signature the catalog is refused whole; the sources (and uploads) still work.
  rmSync(join(policy, 'catalog.yaml.sig'));
  t.teardown(() => copyFileSync(join(ROOT, 'policy', 'catalog.yaml.sig'), join(policy, 'catalog.yaml.sig')));
  const unsigned = await json('GET', '/api/models/catalog');
  t.equal(unsigned.status, 200);
  t.equal(unsigned.json.catalogError.code, 'SECAI_E_CATALOG_INVALID');
  t.match(unsigned.json.catalogError.message, /no signature/);
  t.notOk('catalog' in unsigned.json, 'no entry of an unsigned catalog is listed');
  t.ok(unsigned.json.sources.length > 0, 'the sources are still listed');
  const refused = await json('POST', '/api/models/import', { catalog: first.id });
  t.equal(refused.json.error.code, 'SECAI_E_CATALOG_INVALID', 'nor can one be downloaded');
});

t.test('gateway imports — cancel: only a download in progress; other jobs 409, unknown 404, bad ids 400, guarded', async (t) => {
  const up = await upload('cancel-me.gguf', Buffer.from('not a download'));
  t.equal(up.status, 200);
  const done = await json('POST', `/api/quarantine/jobs/${up.json.id}/cancel`);
  t.equal(done.status, 409, 'an upload is no download');
  t.equal(done.json.error.code, 'SECAI_E_INVALID_STATE');
  t.match(done.json.error.message, /only a download in progress can be cancelled/);
  t.equal((await json('POST', '/api/quarantine/jobs/qnope123/cancel')).json.error.code, 'SECAI_E_JOB_NOT_FOUND');
  t.equal((await json('POST', '/api/quarantine/jobs/a.b/cancel')).status, 400);
  // The session guard (CSRF on every POST) is the real one in test/adversarial/auth-http.test.ts; here a stand-in.
  const noCsrf = await fetch(`${srv.url}/api/quarantine/jobs/${up.json.id}/cancel`, { method: 'POST', headers: { cookie: `secai_test=${session.cookie.value}` } });
  t.not(noCsrf.status, 200, 'the guard runs on this route: without the CSRF token it is refused');
});
