import t from 'tap';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applianceKey, folderSha256, readManifest, Registry, verifiedModel, type PromoteRequest } from '../../actors/registry/store.js';
import { folderDigest } from '../../actors/quarantine/stages/integrity.js';
import { writeDiffusersFolder } from '../fixtures/diffusers-writer.js';

const home = mkdtempSync(join(tmpdir(), 'secai-reg-'));
t.teardown(() => { chmodAll(join(home, 'registry')); rmSync(home, { recursive: true, force: true }); });
function chmodAll(p: string) { if (!existsSync(p)) return; if (statSync(p).isDirectory()) { chmodSync(p, 0o755); for (const f of readdirSync(p)) chmodAll(join(p, f)); } }

const work = join(home, 'quarantine', 'work');
const o = { dir: join(home, 'registry'), keyPath: join(home, 'keys', 'appliance.ed25519'), quarantineWork: work };
mkdirSync(work, { recursive: true });
mkdirSync(join(home, 'keys'), { recursive: true });

let n = 0;
function artifact(content = `GGUF model ${n}`): PromoteRequest {
  const dir = join(work, `job${n}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `model${n}.gguf`);
  writeFileSync(path, content);
  const req = { jobId: `job${n}`, name: `model${n}`, path, kind: 'file' as const, sha256: createHash('sha256').update(content).digest('hex'), format: 'gguf', merkleRoot: 'ab'.repeat(32), stages: [{ stage: 'format', verdict: 'pass', reason: 'GGUF v3' }] };
  n++;
  return req;
}

t.test('registry — promotion makes a read-only copy and a signed manifest entry', async (t) => {
  const reg = await Registry.open(o);
  t.equal(statSync(o.keyPath).mode & 0o777, 0o600, 'appliance key is 0600');
  const req = artifact();
  const e = await reg.promote(req);
  t.match(e, { name: 'model0', sha256: req.sha256, size: readFileSync(req.path).length, format: 'gguf', merkleRoot: 'ab'.repeat(32), path: `${req.sha256}/model0.gguf` });
  const p = reg.pathOf(e);
  t.equal(statSync(p).mode & 0o777, 0o444, 'file 0444');
  t.equal(statSync(join(o.dir, req.sha256)).mode & 0o777, 0o555, 'dir 0555');
  t.same((await reg.entries()).map((x) => x.name), ['model0']);
  t.match(await reg.verify('model0'), { ok: true });
  t.match(await verifiedModel(o, 'model0'), { entry: { sha256: req.sha256 }, path: p });
  t.same(await reg.promote(req), e, 'promoting the same bytes again is idempotent');
});

t.test('registry — a model is found by its name with or without the file extension it was imported as (#13.8)', async (t) => {
  const reg = await Registry.open(o);
  for (const name of ['model0', 'model0.gguf', 'model0.GGUF']) {
    t.match(await reg.verify(name), { ok: true, name: 'model0' }, `verify ${name}`);
    t.match(await reg.get(name), { name: 'model0' }, `get ${name}`);
    t.match(await verifiedModel(o, name), { entry: { name: 'model0' } }, `verifiedModel ${name}`);
  }
  for (const name of ['model0.bin', 'model0.gguf.gguf', 'model', 'model0.safetensors.gguf']) {
    await t.rejects(reg.get(name), { code: 'SECAI_E_MODEL_NOT_FOUND' }, `${name} names nothing`);
  }
});

t.test('registry — a changed file is detected by verify and refused by verifiedModel', async (t) => {
  const reg = await Registry.open(o);
  const e = await reg.promote(artifact());
  const p = reg.pathOf(e);
  chmodSync(p, 0o644);
  writeFileSync(p, 'swapped weights');
  t.match(await reg.verify(e.name), { ok: false, reason: /mismatch/ });
  await t.rejects(verifiedModel(o, e.name), { code: 'SECAI_E_DIGEST_MISMATCH' });
  rmSync(p);
  t.match(await reg.verify(e.name), { ok: false, reason: /no longer|cannot be read/ });
});

t.test('registry — a tampered manifest is refused everywhere', async (t) => {
  const reg = await Registry.open(o);
  await reg.promote(artifact());
  const good = readFileSync(reg.manifestPath, 'utf8');
  const m = JSON.parse(good);
  m.entries[0].sha256 = 'f'.repeat(64);
  writeFileSync(reg.manifestPath, JSON.stringify(m));
  await t.rejects(reg.entries(), { code: 'SECAI_E_REGISTRY_TAMPERED' });
  await t.rejects(Registry.open(o), { code: 'SECAI_E_REGISTRY_TAMPERED' }, 'the actor does not start on it');
  await t.rejects(verifiedModel(o, m.entries[0].name), { code: 'SECAI_E_REGISTRY_TAMPERED' });
  // re-signed with another key
  const other = { ...o, keyPath: join(home, 'keys', 'other.ed25519') };
  const reg2 = await Registry.open({ ...other, dir: join(home, 'reg2') });
  const forged = JSON.parse(readFileSync(reg2.manifestPath, 'utf8'));
  writeFileSync(reg.manifestPath, JSON.stringify(forged));
  await t.rejects(readManifest(reg.manifestPath, (await applianceKey(o.keyPath)).publicKey), { code: 'SECAI_E_REGISTRY_TAMPERED' });
  await t.rejects(reg.entries(), { code: 'SECAI_E_REGISTRY_TAMPERED' }, 'a manifest signed by another key is not ours');
  writeFileSync(reg.manifestPath, 'not json');
  await t.rejects(reg.entries(), { code: 'SECAI_E_REGISTRY_TAMPERED' });
  writeFileSync(reg.manifestPath, good);
  t.ok((await reg.entries()).length >= 1, 'the untouched manifest verifies again');
});

t.test('registry — promotion is refused from outside the work folder, on a digest mismatch, and for a name clash', async (t) => {
  const reg = await Registry.open(o);
  const outside = join(home, 'outside.gguf');
  writeFileSync(outside, 'x');
  await t.rejects(reg.promote({ ...artifact(), path: outside }), { code: 'SECAI_E_IMPORT_REFUSED' });
  await t.rejects(reg.promote({ ...artifact(), path: join(work, '..', '..', 'outside.gguf') }), { code: 'SECAI_E_IMPORT_REFUSED' });
  const a = artifact();
  await t.rejects(reg.promote({ ...a, sha256: 'a'.repeat(64) }), { code: 'SECAI_E_DIGEST_MISMATCH' });
  t.notOk(existsSync(join(o.dir, 'a'.repeat(64))), 'nothing left behind');
  const b = artifact('other bytes');
  await reg.promote(b);
  const c = artifact('third bytes');
  await t.rejects(reg.promote({ ...c, name: b.name }), { code: 'SECAI_E_MODEL_EXISTS' });
});

t.test('registry — rm removes the entry and the read-only copy', async (t) => {
  const reg = await Registry.open(o);
  const e = await reg.promote(artifact());
  const removed = await reg.rm(e.name);
  t.equal(removed.sha256, e.sha256);
  t.notOk(existsSync(join(o.dir, e.sha256)));
  t.notOk((await reg.entries()).some((x) => x.name === e.name));
  await t.rejects(reg.rm(e.name), { code: 'SECAI_E_MODEL_NOT_FOUND' });
  await t.rejects(reg.verify(e.name), { code: 'SECAI_E_MODEL_NOT_FOUND' });
});

t.test('registry — folders: same digest as stage 3, read-only tree', async (t) => {
  const reg = await Registry.open(o);
  const dir = join(work, 'jobF', 'sd-tiny');
  writeDiffusersFolder(dir); // safetensors weights, configs, tokenizer files
  const d = await folderSha256(dir);
  t.equal(d, (await folderDigest(dir)).digest, 'registry and integrity stage agree on the folder digest');
  const e = await reg.promote({ jobId: 'jobF', name: 'sd-tiny', path: dir, kind: 'folder', sha256: d, format: 'diffusers', merkleRoot: null, stages: [] });
  t.equal(statSync(join(reg.pathOf(e), 'unet')).mode & 0o777, 0o555);
  t.equal(statSync(join(reg.pathOf(e), 'model_index.json')).mode & 0o777, 0o444);
  t.match(await reg.verify('sd-tiny'), { ok: true });
});

t.test('registry — the same bytes under two names share one copy; rm keeps it until the last name goes', async (t) => {
  const reg = await Registry.open(o);
  const a = artifact('shared bytes');
  const b = artifact('shared bytes');
  const ea = await reg.promote(a);
  const eb = await reg.promote(b);
  t.equal(eb.path, ea.path);
  t.same((await reg.entries()).filter((e) => e.sha256 === a.sha256).map((e) => e.name).sort(), [a.name, b.name].sort());
  await reg.rm(a.name);
  t.ok(existsSync(reg.pathOf(eb)), 'still stored for the other name');
  t.match(await reg.verify(b.name), { ok: true });
  await reg.rm(b.name);
  t.notOk(existsSync(join(o.dir, a.sha256)));
});

t.test('registry — what a promotion or removal killed midway leaves is removed at open; the manifest and the files agree (#19)', async (t) => {
  const reg = await Registry.open(o);
  const kept = await reg.promote(artifact('GGUF the model that stays'));
  // Killed while copying or hashing: a half-written `.incoming-<job>` folder (read-only, as a copy nearly done is).
  const half = join(o.dir, '.incoming-jobkilled');
  mkdirSync(half, { recursive: true });
  writeFileSync(join(half, 'model.gguf'), 'GGUF half a cop');
  chmodSync(half, 0o555);
  // Killed between the rename and the manifest write: a stored folder no entry names.
  const orphanSha = createHash('sha256').update('GGUF never in the manifest').digest('hex');
  mkdirSync(join(o.dir, orphanSha));
  writeFileSync(join(o.dir, orphanSha, 'model.gguf'), 'GGUF never in the manifest');
  chmodSync(join(o.dir, orphanSha), 0o555);
  // Names the registry does not own are left alone (a canary, an operator's note).
  writeFileSync(join(o.dir, 'README.txt'), 'not a model');

  const reopened = await Registry.open(o);
  t.same([...reopened.leftovers].sort(), ['.incoming-jobkilled', orphanSha].sort(), 'both leftovers named');
  t.notOk(existsSync(half), 'the half copy is gone');
  t.notOk(existsSync(join(o.dir, orphanSha)), 'the unnamed stored folder is gone');
  t.ok(existsSync(join(o.dir, 'README.txt')), 'other names untouched');
  t.match(await reopened.verify(kept.name), { ok: true }, 'the promoted model is intact');
  const stored = readdirSync(o.dir).filter((x) => /^[0-9a-f]{64}$/.test(x)).sort();
  t.same(stored, [...new Set((await reopened.entries()).map((e) => e.sha256))].sort(), 'every stored folder is named by the manifest and every entry has its folder');
  t.same((await Registry.open(o)).leftovers, [], 'a clean registry sweeps nothing');
});
