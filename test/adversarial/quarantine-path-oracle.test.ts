// An attacker with a browser session probes the file system through import-by-path: every refused path must get one answer.
import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFESTS } from '../../runtime/catalog.js';
import { modelImportRoutes } from '../../actors/gateway/routes/model-imports.js';
import { importByPath, PATH_REFUSED } from '../../actors/quarantine/path-import.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';
import { serveRoutes } from '../helpers/route-server.js';
import { standInSession } from '../helpers/session-stand-in.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const bus = await startTestBus(MANIFESTS, { streams: true });
const policy = fastPolicyDir();
const quarantine = await startActorProcess(bus, 'quarantine', policy);
const policyActor = await startActorProcess(bus, 'policy', policy);
const gw = await bus.connect('gateway');
const session = standInSession();
const deps = { bus: gw, log: createLogger('test'), paths: bus.paths, configDir: policy };
const srv = await serveRoutes([session.statusRoute, ...modelImportRoutes(deps)], session.guard);
t.teardown(async () => { await srv.close(); await killHard(quarantine); await killHard(policyActor); await bus.stop(); cleanup(policy); });
// The session proof, as sign-in hands it to the page (no GET reveals it).
const token = session.token;

async function importPath(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${srv.url}/api/models/import`, {
    method: 'POST', headers: { cookie: `secai_test=${session.cookie.value}`, 'x-csrf-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({ path }),
  });
  return { status: r.status, body: await r.text() };
}

t.test('path import oracle — missing, denied, unlistable and linked paths all get the same reply', async (t) => {
  const home = bus.paths.home;
  const ws = join(home, 'workspace');
  mkdirSync(join(home, 'keys'), { recursive: true });
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(home, 'keys', 'secret.gguf'), 'GGUF');
  // Links inside the allowed workspace: one to a file outside it, one to nothing.
  symlinkSync('/etc/hostname', join(ws, 'to-existing'));
  symlinkSync('/etc/no-such-secai-file', join(ws, 'to-missing'));
  const probes = {
    'a missing file outside the roots': '/etc/no-such-secai-file',
    'an existing file outside the roots': '/etc/hostname',
    'an existing file under a denied folder': join(home, 'keys', 'secret.gguf'),
    'a missing file under a denied folder': join(home, 'keys', 'missing.gguf'),
    'a path through a file (not a folder)': '/etc/hostname/x',
    'a missing file in the workspace': join(ws, 'missing.gguf'),
    'a link to an existing file': join(ws, 'to-existing'),
    'a link to a missing file': join(ws, 'to-missing'),
    'a path climbing out of the workspace': join(ws, '..', 'keys', 'secret.gguf'),
  };
  const replies = new Map<string, { status: number; body: string }>();
  for (const [what, path] of Object.entries(probes)) replies.set(what, await importPath(path));
  const first = replies.get('a missing file outside the roots')!;
  t.equal(first.status, 400);
  t.same(JSON.parse(first.body), { error: { code: 'SECAI_E_IMPORT_REFUSED', message: PATH_REFUSED } });
  for (const [what, r] of replies) {
    t.same(r, first, `${what}: byte-for-byte the same reply`);
    t.notMatch(r.body, /ENOENT|ENOTDIR|EACCES|hostname|secret|rule|\/etc\//, `${what}: no errno, real path or rule in the reply`);
  }
});

t.test('path import oracle — a missing path costs a policy decision too, and the owner still learns why', async (t) => {
  const seen: string[] = [];
  const why: string[] = [];
  const deny = { decide: async (i: { path: string }) => { seen.push(i.path); return { decision: 'deny' as const, rule: 'paths.default' }; }, enqueue: async () => ({ id: 'x', name: 'x' }), refused: (d: { why: string }) => why.push(d.why) };
  await t.rejects(importByPath(deny, '/etc/no-such-secai-file'), { code: 'SECAI_E_IMPORT_REFUSED', message: PATH_REFUSED });
  await t.rejects(importByPath(deny, '/etc/hostname'), { code: 'SECAI_E_IMPORT_REFUSED', message: PATH_REFUSED });
  t.same(seen, ['/etc/no-such-secai-file', '/etc/hostname'], 'one decision each: the same work for both');
  t.match(why, [/ENOENT/, /rule paths\.default/], 'the log keeps the detail for the owner');
});
