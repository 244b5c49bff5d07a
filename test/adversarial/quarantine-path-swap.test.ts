// A path import is decided on a real path, then copied. Someone who can write above that path swaps a folder
// on it for a link between the two, to have a file the policy never allowed copied into quarantine. The copy
// follows no link anywhere on the decided path (common/no-follow.ts), so the swap is refused, not read.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { components, NoFollowError, openAt, openDirNoFollow } from '../../common/no-follow.js';
import { copyInto, ingest } from '../../actors/quarantine/ingest.js';
import { importByPath } from '../../actors/quarantine/path-import.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'secai-swap-')));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

t.test('openDirNoFollow — opens a canonical path; refuses a link anywhere on it, even one that leads somewhere fine', async (t) => {
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  const fd = openDirNoFollow(join(root, 'a', 'b'));
  t.ok(fstatSync(fd).isDirectory());
  closeSync(fd);
  closeSync(openDirNoFollow('/'));
  symlinkSync(join(root, 'a'), join(root, 'alias'));
  t.throws(() => openDirNoFollow(join(root, 'alias', 'b')), { name: 'NoFollowError', errno: 'ELOOP', message: /alias is a symbolic link/ });
  writeFileSync(join(root, 'a', 'file'), 'x');
  t.throws(() => openDirNoFollow(join(root, 'a', 'file')), { name: 'NoFollowError', errno: 'ENOTDIR' });
  t.throws(() => openDirNoFollow(join(root, 'a', 'missing')), { name: 'NoFollowError', errno: 'ENOENT' });
  for (const bad of ['relative/path', '/a/../b', '/a/./b', '/a//b', '/a/b/', '/a/\0b']) {
    t.throws(() => components(bad), NoFollowError, `not canonical: ${JSON.stringify(bad)}`);
  }
  t.same(components('/'), []);
  t.same(components('/x/y'), ['x', 'y']);
});

t.test('openAt — checks the kind on the descriptor; a FIFO is refused without hanging; names are plain', async (t) => {
  const d = join(root, 'kinds');
  mkdirSync(join(d, 'sub'), { recursive: true });
  writeFileSync(join(d, 'f'), 'x');
  execFileSync('mkfifo', [join(d, 'pipe')]);
  symlinkSync(join(d, 'f'), join(d, 'link'));
  const dir = openDirNoFollow(d);
  try {
    closeSync(openAt(dir, 'f', 'file'));
    closeSync(openAt(dir, 'sub', 'dir'));
    closeSync(openAt(dir, 'sub', 'any'));
    t.throws(() => openAt(dir, 'sub', 'file'), { message: /not a regular file/ });
    t.throws(() => openAt(dir, 'f', 'dir'), { name: 'NoFollowError', errno: 'ENOTDIR' });
    t.throws(() => openAt(dir, 'pipe', 'any'), { message: /not a regular file or folder/ });
    t.throws(() => openAt(dir, 'link', 'file'), { name: 'NoFollowError', errno: 'ELOOP' });
    for (const bad of ['..', '.', '', 'sub/f', 'a\0b']) t.throws(() => openAt(dir, bad, 'any'), { name: 'NoFollowError', errno: 'EINVAL' });
  } finally {
    closeSync(dir);
  }
});

function setup(name: string) {
  const base = join(root, name);
  const allowed = join(base, 'allowed');
  const secret = join(base, 'secret');
  mkdirSync(join(allowed, 'models'), { recursive: true });
  mkdirSync(join(secret, 'models'), { recursive: true });
  writeFileSync(join(allowed, 'models', 'tiny.gguf'), 'allowed model bytes');
  writeFileSync(join(secret, 'models', 'tiny.gguf'), 'SECRET bytes the policy never allowed');
  const work = join(base, 'work');
  const o = { workDir: work, maxFileBytes: 1 << 20, maxFolderBytes: 1 << 20, move: false };
  const copied: string[] = [];
  const enqueue = async (p: string) => { const r = await ingest(p, { type: 'local' }, o); copied.push(r.artifact.path); return { id: r.id, name: r.artifact.name }; };
  /** Puts a link to the secret folder where the allowed one was: what an attacker does after the decision. */
  const swap = () => { renameSync(allowed, join(base, 'moved-away')); symlinkSync(secret, allowed); };
  return { base, allowed, work, enqueue, swap, copied };
}

const decidedPaths = (seen: string[]) => async (input: { path: string }) => {
  seen.push(input.path);
  return { decision: input.path.includes('/allowed/') ? 'allow' as const : 'deny' as const, rule: 'paths.test' };
};

t.test('path import — the file the policy allowed is copied when nothing moves', async (t) => {
  const s = setup('calm');
  const seen: string[] = [];
  await importByPath({ decide: decidedPaths(seen), enqueue: s.enqueue }, join(s.allowed, 'models', 'tiny.gguf'));
  t.same(seen, [join(s.allowed, 'models', 'tiny.gguf')]);
  t.equal(s.copied.length, 1);
  t.equal(readFileSync(s.copied[0]!, 'utf8'), 'allowed model bytes');
});

t.test('path import — a folder on the decided path swapped for a link after the decision is refused; nothing is copied', async (t) => {
  for (const target of ['file', 'folder'] as const) {
    const s = setup(`swap-${target}`);
    if (target === 'folder') writeFileSync(join(s.base, 'secret', 'models', 'model_index.json'), '{"secret":true}');
    const decide = async (input: { path: string }) => {
      const d = await decidedPaths([])(input);
      s.swap(); // after the check, before the copy
      return d;
    };
    const path = target === 'file' ? join(s.allowed, 'models', 'tiny.gguf') : join(s.allowed, 'models');
    await t.rejects(importByPath({ decide, enqueue: s.enqueue }, path), { code: 'SECAI_E_IMPORT_REFUSED', message: /allowed is a symbolic link/ }, target);
    t.same(existsSync(s.work) ? readdirSync(s.work) : [], [], `${target}: no job folder left behind`);
  }
});

t.test('copyInto — a sub-folder swapped for a link is refused; links found inside are kept as links; growth past the limit is refused', async (t) => {
  const d = join(root, 'tree');
  mkdirSync(join(d, 'sd', 'unet'), { recursive: true });
  writeFileSync(join(d, 'sd', 'unet', 'w.safetensors'), 'weights');
  symlinkSync('/etc/passwd', join(d, 'sd', 'evil.json'));
  await copyInto(join(d, 'sd'), 'folder', join(d, 'copy1'), 1 << 20);
  t.equal(readFileSync(join(d, 'copy1', 'unet', 'w.safetensors'), 'utf8'), 'weights');
  t.equal(realpathSync.native(join(d, 'copy1', 'evil.json')), '/etc/passwd', 'a link inside is copied as the same link (stage 7 rejects it)');
  await t.rejects(copyInto(join(d, 'sd'), 'folder', join(d, 'copy2'), 3), { code: 'SECAI_E_IMPORT_REFUSED', message: /grew past the 3-byte limit/ });
  // The folder itself, reached through a link on its path, is refused (the copy must read the decided path).
  symlinkSync(join(d, 'sd'), join(d, 'sd-alias'));
  await t.rejects(copyInto(join(d, 'sd-alias', 'unet'), 'folder', join(d, 'copy3'), 1 << 20), { code: 'SECAI_E_IMPORT_REFUSED', message: /sd-alias is a symbolic link/ });
  t.notOk(existsSync(join(d, 'copy3')));
  execFileSync('mkfifo', [join(d, 'sd', 'unet', 'pipe')]);
  await t.rejects(copyInto(join(d, 'sd'), 'folder', join(d, 'copy4'), 1 << 20), { code: 'SECAI_E_IMPORT_REFUSED', message: /pipe is not a regular file or folder/ });
});
