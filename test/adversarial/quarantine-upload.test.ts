// Browser uploads into quarantine: ordered chunks, declared and policy sizes, names, idle discard, and who may send them.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFESTS } from '../../runtime/catalog.js';
import { compileAcl } from '../../bus/acl.js';
import { defineManifest } from '../../bus/manifest.js';
import { serveSubject } from '../../bus/subjects.js';
import { Uploads, UPLOAD_CHUNK_BYTES } from '../../actors/quarantine/upload.js';
import { startTestBus } from '../helpers/bus.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const UPLOAD_OPS = ['upload_begin', 'upload_chunk', 'upload_end', 'upload_abort', 'import_path', 'import_url', 'cancel', 'sources', 'catalog', 'import_catalog'];

function uploads(o: { max?: number; concurrent?: number; free?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'secai-uploads-'));
  let clock = 1_000_000;
  const queued: { path: string; bytes: Buffer }[] = [];
  const u = new Uploads({
    dir: join(dir, 'uploads'), maxBytes: () => o.max ?? 1024 * 1024, maxConcurrent: o.concurrent ?? 2, idleMs: 60_000,
    now: () => clock, freeBytes: () => o.free ?? 64 * 1024 ** 3,
    enqueue: async (path) => { queued.push({ path, bytes: readFileSync(path) }); return { id: `q${queued.length}`, name: 'x' }; },
  });
  return { u, dir: join(dir, 'uploads'), queued, tick: (ms: number) => { clock += ms; }, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);
const leftovers = (dir: string) => readdirSync(dir);

t.test('quarantine upload — in order, exactly the declared size, into a private folder, then queued', async (t) => {
  const x = uploads();
  t.teardown(x.done);
  t.equal(statSync(x.dir).mode & 0o777, 0o700, 'the upload folder is private');
  const { uploadId } = x.u.begin('gateway', { name: 'tiny.gguf', size: 10 });
  t.match(uploadId, /^[0-9a-f]{32}$/);
  t.same(x.u.chunk('gateway', { uploadId, offset: 0, data: bytes(6, 1) }), { received: 6 });
  const file = join(x.dir, uploadId, 'tiny.gguf');
  t.equal(statSync(file).mode & 0o777, 0o600, 'the partial file is private');
  t.same(x.u.chunk('gateway', { uploadId, offset: 6, data: bytes(4, 2) }), { received: 10 });
  t.same(await x.u.end('gateway', { uploadId }), { id: 'q1', name: 'x' });
  t.same([...x.queued[0]!.bytes], [1, 1, 1, 1, 1, 1, 2, 2, 2, 2], 'the queued file holds the bytes in order');
  t.same(leftovers(x.dir), [], 'nothing left behind after the job took its copy');
  t.equal(x.u.active, 0);
});

t.test('quarantine upload — a wrong offset, a repeat, too many bytes or too few: refused and discarded', async (t) => {
  const x = uploads();
  t.teardown(x.done);
  const cases: [string, (id: string) => unknown][] = [
    ['an offset ahead', (id) => x.u.chunk('gateway', { uploadId: id, offset: 4, data: bytes(2) })],
    ['an offset behind (a replayed chunk)', (id) => { x.u.chunk('gateway', { uploadId: id, offset: 0, data: bytes(4) }); return x.u.chunk('gateway', { uploadId: id, offset: 0, data: bytes(4) }); }],
    ['more bytes than declared', (id) => x.u.chunk('gateway', { uploadId: id, offset: 0, data: bytes(11) })],
    ['end before every byte', (id) => { x.u.chunk('gateway', { uploadId: id, offset: 0, data: bytes(9) }); return x.u.end('gateway', { uploadId: id }); }],
    ['an empty chunk', (id) => x.u.chunk('gateway', { uploadId: id, offset: 0, data: bytes(0) })],
    ['a chunk over 512 KiB', (id) => x.u.chunk('gateway', { uploadId: id, offset: 0, data: bytes(UPLOAD_CHUNK_BYTES + 1) })],
  ];
  for (const [what, run] of cases) {
    const { uploadId } = x.u.begin('gateway', { name: 'm.gguf', size: what === 'a chunk over 512 KiB' ? UPLOAD_CHUNK_BYTES + 1 : 10 });
    await t.rejects(async () => run(uploadId), { code: 'SECAI_E_IMPORT_REFUSED' }, `${what}: refused`);
    t.throws(() => x.u.chunk('gateway', { uploadId, offset: 0, data: bytes(1) }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' }, `${what}: the upload is gone`);
    t.same(leftovers(x.dir), [], `${what}: its partial file is deleted`);
  }
  t.equal(x.queued.length, 0, 'nothing was queued');
});

t.test('quarantine upload — sizes: the policy limit, a declared size of 0, disk space', async (t) => {
  const x = uploads({ max: 100 });
  t.teardown(x.done);
  t.throws(() => x.u.begin('gateway', { name: 'big.gguf', size: 101 }), { code: 'SECAI_E_IMPORT_REFUSED', message: /max_file_bytes/ }, 'over the policy limit before a byte');
  t.throws(() => x.u.begin('gateway', { name: 'e.gguf', size: 0 }), { code: 'SECAI_E_IMPORT_REFUSED' });
  t.throws(() => x.u.begin('gateway', { name: 'e.gguf', size: 1.5 }), { code: 'SECAI_E_IMPORT_REFUSED' });
  const y = uploads({ free: 200 * 1024 * 1024 });
  t.teardown(y.done);
  t.throws(() => y.u.begin('gateway', { name: 'm.gguf', size: 1024 * 1024 }), { code: 'SECAI_E_IMPORT_REFUSED', message: /disk space/ }, 'the disk keeps a reserve');
  t.same(leftovers(x.dir), []);
});

t.test('quarantine upload — names: no path, no NUL, no dot file', async (t) => {
  const x = uploads();
  t.teardown(x.done);
  for (const name of ['../x', 'a/b', '..', '.hidden', 'a\0b', 'a\\b', '', 'x'.repeat(129), 'new\nline', 'sp ace']) {
    t.throws(() => x.u.begin('gateway', { name, size: 1 }), { code: 'SECAI_E_IMPORT_REFUSED' }, `${JSON.stringify(name)} refused`);
  }
  t.same(leftovers(x.dir), []);
  t.ok(x.u.begin('gateway', { name: 'Model_v2.Q8_0.gguf', size: 1 }).uploadId, 'an ordinary name is taken');
});

t.test('quarantine upload — bound to the identity that began it; unknown and malformed ids', async (t) => {
  const x = uploads();
  t.teardown(x.done);
  const { uploadId } = x.u.begin('gateway', { name: 'm.gguf', size: 4 });
  t.throws(() => x.u.chunk('mallory', { uploadId, offset: 0, data: bytes(4) }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' }, 'another identity cannot write into it');
  await t.rejects(x.u.end('mallory', { uploadId }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' });
  t.same(x.u.abort('mallory', { uploadId }), { aborted: false }, 'nor abort it');
  t.throws(() => x.u.chunk('gateway', { uploadId: 'f'.repeat(32), offset: 0, data: bytes(1) }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' });
  t.throws(() => x.u.chunk('gateway', { uploadId: '../../etc', offset: 0, data: bytes(1) }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' });
  t.same(x.u.chunk('gateway', { uploadId, offset: 0, data: bytes(4) }), { received: 4 }, 'the owner still can');
  t.same(x.u.abort('gateway', { uploadId }), { aborted: true }, 'abort');
  await t.rejects(x.u.end('gateway', { uploadId }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' }, 'an aborted upload cannot end');
  t.same(leftovers(x.dir), []);
});

t.test('quarantine upload — at most N at once; an idle one is discarded after the timeout', async (t) => {
  const x = uploads({ concurrent: 2 });
  t.teardown(x.done);
  const a = x.u.begin('gateway', { name: 'a.gguf', size: 4 }).uploadId;
  x.tick(30_000);
  const b = x.u.begin('gateway', { name: 'b.gguf', size: 4 }).uploadId;
  t.throws(() => x.u.begin('gateway', { name: 'c.gguf', size: 4 }), { code: 'SECAI_E_NOT_READY' }, 'a third waits');
  x.tick(31_000);
  t.same(x.u.sweep(), [a], 'the first, idle for 61 s, is discarded; the second (31 s) stays');
  t.throws(() => x.u.chunk('gateway', { uploadId: a, offset: 0, data: bytes(4) }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' });
  t.same(x.u.chunk('gateway', { uploadId: b, offset: 0, data: bytes(2) }), { received: 2 }, 'a chunk keeps an upload alive');
  x.tick(59_000);
  t.same(x.u.sweep(), []);
  t.ok(x.u.begin('gateway', { name: 'c.gguf', size: 4 }).uploadId, 'a slot is free again');
  t.ok(leftovers(x.dir).includes(b), 'the live upload keeps its file');
  t.notOk(existsSync(join(x.dir, a)), 'the discarded upload left no file');
  x.u.close();
  t.same(leftovers(x.dir), [], 'stop discards every partial upload');
});

t.test('quarantine upload — leftovers of a previous run are discarded at start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-uploads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'uploads', 'abc'), { recursive: true });
  writeFileSync(join(dir, 'uploads', 'abc', 'half.gguf'), 'half');
  new Uploads({ dir: join(dir, 'uploads'), maxBytes: () => 10, enqueue: async () => ({ id: 'x', name: 'x' }) });
  t.same(readdirSync(join(dir, 'uploads')), []);
});

t.test('quarantine upload acl — only the gateway may request the browser import ops (compiled ACL)', async (t) => {
  const acl = compileAcl(MANIFESTS);
  for (const op of UPLOAD_OPS) {
    const subject = serveSubject('quarantine', op);
    const allowed = acl.filter((id) => id.permissions.publish.allow.some((p) => p === subject || p === 'secai.quarantine.>' || p === '>')).map((id) => id.name);
    t.same(allowed, ['gateway'], `${subject}: gateway only`);
  }
});

t.test('quarantine upload — over a real bus to the real quarantine actor: gateway only, bound to its identity', async (t) => {
  const mallory = defineManifest({ name: 'mallory', kind: 'client', description: 'test: a second identity the ACL lets through', serves: {}, commands: {}, publishes: {}, requests: UPLOAD_OPS.map((o) => `quarantine.${o}`), subscribes: [] });
  const bus = await startTestBus([...MANIFESTS, mallory], { streams: true });
  const policy = fastPolicyDir((y) => y.replace(/^(\s*behavioral_test:) optional$/m, '$1 off'));
  const q = await startActorProcess(bus, 'quarantine', policy);
  t.teardown(async () => { await killHard(q); await bus.stop(); cleanup(policy); });
  const gw = await bus.connect('gateway');
  const m = await bus.connect('mallory');

  const { uploadId } = await gw.request<{ uploadId: string }>('quarantine', 'upload_begin', { name: 'up.gguf', size: 8 });
  await t.rejects(m.request('quarantine', 'upload_chunk', { uploadId, offset: 0, data: bytes(8) }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' }, 'another identity with the id cannot write');
  await t.rejects(gw.request('quarantine', 'upload_chunk', { uploadId, offset: 1, data: bytes(7) }), { code: 'SECAI_E_IMPORT_REFUSED' }, 'a wrong offset ends it');
  await t.rejects(gw.request('quarantine', 'upload_end', { uploadId }), { code: 'SECAI_E_UPLOAD_NOT_FOUND' }, 'and it is gone');
  await t.rejects(gw.request('quarantine', 'upload_begin', { name: '../x', size: 1 }), { code: 'SECAI_E_SCHEMA' }, 'a path as name fails the schema');
  await t.rejects(gw.request('quarantine', 'upload_begin', { name: '.x', size: 1 }), { code: 'SECAI_E_SCHEMA' });
  await t.rejects(gw.request('quarantine', 'upload_chunk', { uploadId, offset: 0, data: bytes(UPLOAD_CHUNK_BYTES + 1) }), { code: /SECAI_E_(SCHEMA|PAYLOAD_TOO_LARGE)/ }, 'a chunk over 512 KiB fails the schema');

  const good = await gw.request<{ uploadId: string }>('quarantine', 'upload_begin', { name: 'up.gguf', size: 6 });
  await gw.request('quarantine', 'upload_chunk', { uploadId: good.uploadId, offset: 0, data: Buffer.from('GGUF') });
  await gw.request('quarantine', 'upload_chunk', { uploadId: good.uploadId, offset: 4, data: Buffer.from('!!') });
  const job = await gw.request<{ id: string; name: string }>('quarantine', 'upload_end', { uploadId: good.uploadId });
  t.equal(job.name, 'up.gguf');
  const report = await gw.request<{ origin: { type: string }; size: number }>('quarantine', 'get', { id: job.id });
  t.same(report.origin, { type: 'upload' }, 'queued as an upload');
  t.equal(report.size, 6);
  t.same(readdirSync(join(bus.paths.quarantineWork, 'uploads')), [], 'no partial upload left');

  // Every other actor identity is refused by nats-server itself.
  for (const name of ['inference', 'registry', 'auth', 'vault', 'cli']) {
    const c = await bus.connect(name);
    await t.rejects(c.request('quarantine', 'upload_begin', { name: 'x.gguf', size: 1 }, 1500), `${name} may not begin an upload`);
  }
});
