import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, appendFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ignoredName, IncomingWatcher } from '../../actors/quarantine/watcher.js';
import { copyInto, ingest, modelName } from '../../actors/quarantine/ingest.js';
import { loadQuarantineFiles, quarantinePolicy } from '../../actors/quarantine/policy.js';
import { parsePolicy } from '../../policy/snapshot.js';
import { sectionsOf } from '../../policy/sections.js';
import { projectRoot } from '../../common/paths.js';

const root = mkdtempSync(join(tmpdir(), 'secai-qw-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

t.test('watcher — an entry is taken only after it stayed unchanged for settleMs; hidden, partial and sidecar names are ignored', async (t) => {
  const dir = join(root, 'incoming1');
  const ready: string[] = [];
  const refused: string[] = [];
  const w = new IncomingWatcher({ dir, settleMs: 1000, onReady: (_p, n) => ready.push(n), onRefused: (n) => refused.push(n) });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'm.gguf'), 'abc');
  for (const n of ['.hidden.gguf', 'x.gguf.part', 'm.gguf.sig', 'm.gguf.sigstore.json', 'y.crdownload']) writeFileSync(join(dir, n), 'x');
  w.poll(0);
  t.same(ready, [], 'first sight: not yet');
  appendFileSync(join(dir, 'm.gguf'), 'still writing');
  w.poll(900);
  w.poll(1500);
  t.same(ready, [], 'it grew: the clock restarts');
  w.poll(1850);
  t.same(ready, [], 'stable for less than settleMs (950 ms)');
  w.poll(1950);
  t.same(ready, ['m.gguf'], 'stable long enough: taken once');
  w.poll(5000);
  t.same(ready, ['m.gguf'], 'not taken twice');
  t.same(refused, []);
  t.ok(ignoredName('.x') && ignoredName('a.bundle') && !ignoredName('a.gguf'));
});

t.test('watcher — while a hold reason stands (low storage) a settled entry waits untouched, told once; it is taken when the reason clears (#19)', async (t) => {
  const dir = join(root, 'incoming-held');
  const ready: string[] = [];
  const held: string[] = [];
  let low: string | undefined = 'storage is low';
  let asked = 0;
  const w = new IncomingWatcher({
    dir, settleMs: 100, onReady: (_p, n) => ready.push(n), onRefused: () => t.fail('nothing is refused'),
    holdReason: () => { asked++; return low; }, onHeld: (n, why) => held.push(`${n}: ${why}`),
  });
  mkdirSync(dir, { recursive: true });
  w.poll(0);
  t.equal(asked, 0, 'no entry settled: the disk is not asked');
  writeFileSync(join(dir, 'a.gguf'), 'abc');
  writeFileSync(join(dir, 'b.gguf'), 'def');
  w.poll(0);
  w.poll(200);
  w.poll(300);
  t.same(ready, [], 'not taken while storage is low');
  t.same(held, ['a.gguf: storage is low', 'b.gguf: storage is low'], 'each told once');
  t.equal(asked, 2, 'asked once per poll, not once per entry');
  t.ok(existsSync(join(dir, 'a.gguf')), 'left in place');
  low = undefined;
  w.poll(400);
  t.same(ready.sort(), ['a.gguf', 'b.gguf'], 'taken on the first poll after the reason clears');
});

t.test('watcher — symlinks are refused (reported once), never followed', async (t) => {
  const dir = join(root, 'incoming2');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(root, 'target.gguf'), 'x');
  symlinkSync(join(root, 'target.gguf'), join(dir, 'link.gguf'));
  symlinkSync(root, join(dir, 'linkdir'));
  const ready: string[] = [];
  const refused: string[] = [];
  const w = new IncomingWatcher({ dir, settleMs: 10, onReady: (_p, n) => ready.push(n), onRefused: (n, why) => refused.push(`${n}: ${why}`) });
  for (const now of [0, 100, 200]) w.poll(now);
  t.same(ready, []);
  t.equal(refused.length, 2);
  t.match(refused.join('\n'), /link\.gguf: .*symbolic link/);
});

t.test('ingest — a private copy with sidecars; the source is moved only for drops; limits and links refused', async (t) => {
  const work = join(root, 'work');
  const src = join(root, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'a.gguf'), 'model bytes');
  writeFileSync(join(src, 'a.gguf.sig'), 'c2ln');
  const o = { workDir: work, maxFileBytes: 1000, maxFolderBytes: 1000, move: false };
  const { id, artifact } = await ingest(join(src, 'a.gguf'), { type: 'local' }, o);
  t.equal(artifact.path, join(work, id, 'a.gguf'));
  t.equal(readFileSync(artifact.path, 'utf8'), 'model bytes');
  t.ok(existsSync(`${artifact.path}.sig`), 'the signature travels with it');
  t.ok(existsSync(join(src, 'a.gguf')), 'an import leaves the user file');
  writeFileSync(join(src, 'a.gguf'), 'swapped after ingest');
  t.equal(readFileSync(artifact.path, 'utf8'), 'model bytes', 'swapping the original changes nothing');
  await ingest(join(src, 'a.gguf'), { type: 'local' }, { ...o, move: true });
  t.notOk(existsSync(join(src, 'a.gguf')) || existsSync(join(src, 'a.gguf.sig')), 'a drop is moved out of incoming/');
  writeFileSync(join(src, 'big.gguf'), Buffer.alloc(2000));
  await t.rejects(ingest(join(src, 'big.gguf'), { type: 'local' }, o), { code: 'SECAI_E_IMPORT_REFUSED', message: /over the 1000-byte limit/ });
  symlinkSync(join(src, 'big.gguf'), join(src, 'l.gguf'));
  await t.rejects(ingest(join(src, 'l.gguf'), { type: 'local' }, o), { code: 'SECAI_E_IMPORT_REFUSED', message: /symbolic link/ });
  await t.rejects(ingest(join(src, 'missing.gguf'), { type: 'local' }, o), { code: 'SECAI_E_IMPORT_REFUSED' });
  execFileSync('mkfifo', [join(src, 'pipe.gguf')]);
  await t.rejects(ingest(join(src, 'pipe.gguf'), { type: 'local' }, o), { code: 'SECAI_E_IMPORT_REFUSED', message: /not a regular file/ });
  // A folder keeps its inner links as links, for stage 7 to judge.
  mkdirSync(join(src, 'sd', 'unet'), { recursive: true });
  writeFileSync(join(src, 'sd', 'model_index.json'), '{}');
  symlinkSync('/etc/passwd', join(src, 'sd', 'unet', 'evil.json'));
  const f = await ingest(join(src, 'sd'), { type: 'local' }, o);
  t.equal(f.artifact.kind, 'folder');
  t.equal(readFileSync(join(f.artifact.path, 'model_index.json'), 'utf8'), '{}');
  t.equal((await import('node:fs')).lstatSync(join(f.artifact.path, 'unet', 'evil.json')).isSymbolicLink(), true);
});

t.test('ingest — registry names are safe', async (t) => {
  t.equal(modelName('Llama-3 8B (Q4).gguf'), 'Llama-3-8B--Q4-');
  t.equal(modelName('.hidden.safetensors'), 'm.hidden');
  t.equal(modelName('tiny.gguf'), 'tiny');
});

t.test('quarantine policy — the shipped files load; an invalid file stops the actor with the file and line', async (t) => {
  const cfg = join(projectRoot, 'policy');
  const q = sectionsOf(parsePolicy(readFileSync(join(cfg, 'policy.yaml'), 'utf8'), 'policy.yaml', root).value).quarantine;
  const p = quarantinePolicy(q.value, loadQuarantineFiles(cfg), q.digest);
  t.equal(p.pipeline.behavioral, 'optional');
  t.ok(p.source.allowlist.sources.some((s) => s.host === 'huggingface.co'));
  const dir = join(root, 'cfg');
  mkdirSync(dir, { recursive: true });
  for (const f of ['policy.yaml', 'sources.allowlist.yaml', 'models.lock.yaml']) writeFileSync(join(dir, f), readFileSync(join(projectRoot, 'policy', f)));
  // policy.yaml itself is the policy actor's to load (test/policy/sections.test.ts); the quarantine reads its two files.
  writeFileSync(join(dir, 'sources.allowlist.yaml'), 'version: 1\nsources:\n  - host: HuggingFace.co\n    subdomains: false\nip_literals: []\n');
  t.throws(() => loadQuarantineFiles(dir), { code: 'SECAI_E_CONFIG_INVALID', message: /sources\.allowlist\.yaml:3/ });
  writeFileSync(join(dir, 'sources.allowlist.yaml'), readFileSync(join(projectRoot, 'policy', 'sources.allowlist.yaml')));
  writeFileSync(join(dir, 'models.lock.yaml'), 'version: 1\nmodels:\n  - name: x\n    sha256: not-a-hash\n');
  t.throws(() => loadQuarantineFiles(dir), { code: 'SECAI_E_CONFIG_INVALID', message: /models\.lock\.yaml:4/ });
});

t.test('ingest — the quarantine\'s own files (uploads, downloads) are renamed in; drops are copied to a new inode', async (t) => {
  const { statSync } = await import('node:fs');
  const src = join(root, 'own');
  mkdirSync(src, { recursive: true });
  const o = { workDir: join(root, 'work-own'), maxFileBytes: 1000, maxFolderBytes: 1000, move: true };
  writeFileSync(join(src, 'up.gguf'), 'uploaded bytes');
  const ino = statSync(join(src, 'up.gguf')).ino;
  const owned = await ingest(join(src, 'up.gguf'), { type: 'upload' }, { ...o, owned: true });
  t.equal(statSync(owned.artifact.path).ino, ino, 'owned: the same file, renamed');
  t.notOk(existsSync(join(src, 'up.gguf')));
  t.equal(readFileSync(owned.artifact.path, 'utf8'), 'uploaded bytes');
  writeFileSync(join(src, 'drop.gguf'), 'dropped bytes');
  const dropIno = statSync(join(src, 'drop.gguf')).ino;
  const dropped = await ingest(join(src, 'drop.gguf'), { type: 'local' }, o);
  t.not(statSync(dropped.artifact.path).ino, dropIno, 'a drop: a private copy (whoever dropped it cannot write into the scanned file)');
  t.notOk(existsSync(join(src, 'drop.gguf')), 'and the drop is removed');
  await t.rejects(ingest(join(src, 'missing.gguf'), { type: 'upload' }, { ...o, owned: true }), { code: 'SECAI_E_IMPORT_REFUSED' });
});

t.test('ingest — the copy reads the file it checked: a link or a FIFO put in its place is refused, nothing is written', async (t) => {
  const d = join(root, 'nofollow');
  mkdirSync(d, { recursive: true });
  const bytes = Buffer.from(Array.from({ length: 9 << 20 }, (_, i) => (i * 7) & 0xff));
  writeFileSync(join(d, 'real.gguf'), bytes);
  await copyInto(join(d, 'real.gguf'), 'file', join(d, 'copy.gguf'), 1 << 30);
  t.ok(readFileSync(join(d, 'copy.gguf')).equals(bytes), 'a regular file is copied byte for byte (over several buffers)');
  writeFileSync(join(root, 'secret'), 'not a model');
  symlinkSync(join(root, 'secret'), join(d, 'swapped.gguf'));
  await t.rejects(copyInto(join(d, 'swapped.gguf'), 'file', join(d, 'out1'), 1 << 30), { code: 'SECAI_E_IMPORT_REFUSED', message: /symbolic link/ });
  t.notOk(existsSync(join(d, 'out1')));
  execFileSync('mkfifo', [join(d, 'fifo.gguf')]);
  await t.rejects(copyInto(join(d, 'fifo.gguf'), 'file', join(d, 'out2'), 1 << 30), { code: 'SECAI_E_IMPORT_REFUSED', message: /not a regular file/ });
  t.notOk(existsSync(join(d, 'out2')));
});

t.test('ingest — a copy leaves the event loop free between reads (the actor keeps answering during a big import)', async (t) => {
  const d = join(root, 'loop');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'big.gguf'), Buffer.alloc(24 << 20, 7));
  let turns = 0;
  const timer = setInterval(() => { turns++; }, 0);
  try {
    const { artifact } = await ingest(join(d, 'big.gguf'), { type: 'local' }, { workDir: join(root, 'work-loop'), maxFileBytes: 1 << 30, maxFolderBytes: 1 << 30, move: false });
    t.equal(artifact.size, 24 << 20);
  } finally {
    clearInterval(timer);
  }
  t.ok(turns > 0, `timers ran while the file was copied (${turns} turns)`);
});
