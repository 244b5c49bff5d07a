// Adversarial: a hard link in an imported folder (or an imported file with a second name) would be copied as an
// ordinary file, hiding from stage 7 a file that may live anywhere (keys/): the import is refused, nothing stays.
import t from 'tap';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyInto, ingest } from '../../actors/quarantine/ingest.js';
import { importByPath } from '../../actors/quarantine/path-import.js';
import { writeDiffusersFolder } from '../fixtures/diffusers-writer.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'secai-q-hl-')));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const key = join(root, 'keys', 'operator.ed25519');
mkdirSync(join(root, 'keys'));
writeFileSync(key, 'operator secret key bytes');

function setup(name: string) {
  const base = join(root, name);
  const pipe = join(base, 'allowed', 'pipe');
  writeDiffusersFolder(pipe);
  const work = join(base, 'work');
  mkdirSync(work, { recursive: true });
  const o = { workDir: work, maxFileBytes: 1 << 24, maxFolderBytes: 1 << 24, move: false };
  return { base, pipe, work, o };
}

t.test('quarantine import — a folder holding a hard link to the operator key is refused, naming the file; nothing is copied', async (t) => {
  const s = setup('folder');
  linkSync(key, join(s.pipe, 'tokenizer', 'special.txt'));
  await t.rejects(ingest(s.pipe, { type: 'local' }, s.o), { code: 'SECAI_E_IMPORT_REFUSED', message: /pipe\/tokenizer\/special\.txt has 2 hard links/ });
  t.same(readdirSync(s.work), [], 'no job folder is left behind');
  await t.rejects(copyInto(s.pipe, 'folder', join(s.base, 'copy'), 1 << 24), { code: 'SECAI_E_IMPORT_REFUSED', message: /hard links/ });
});

t.test('quarantine import — a hard link between two files of the folder is refused too', async (t) => {
  const s = setup('inside');
  linkSync(join(s.pipe, 'unet', 'config.json'), join(s.pipe, 'vae', 'extra.json'));
  await t.rejects(ingest(s.pipe, { type: 'local' }, s.o), { code: 'SECAI_E_IMPORT_REFUSED', message: /hard links/ });
});

t.test('quarantine import — a policy-allowed path that is a hard link to the key is refused; an ordinary folder is copied', async (t) => {
  const s = setup('path');
  const model = join(s.base, 'allowed', 'model.gguf');
  linkSync(key, model);
  const enqueue = async (p: string) => { const r = await ingest(p, { type: 'local' }, s.o); return { id: r.id, name: r.artifact.name }; };
  const decide = async () => ({ decision: 'allow' as const, rule: 'paths.test' });
  await t.rejects(importByPath({ decide, enqueue }, model), { code: 'SECAI_E_IMPORT_REFUSED', message: /model\.gguf has \d+ hard links/ });
  t.same(readdirSync(s.work), []);
  const ok = await importByPath({ decide, enqueue }, s.pipe);
  t.ok(existsSync(join(s.work, ok.id, 'pipe', 'model_index.json')), 'the same folder without links imports');
});
