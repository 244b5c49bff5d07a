// Path canonicalization, lexical and on the real file system: no generated path escapes its root; idempotent.
import t from 'tap';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWithin, lexicalPath } from '../../policy/decide/path-lexical.js';
import { realPath } from '../../policy/real-path.js';

// Segments that matter: dots, look-alikes, separators, case, unicode, names of the fixture's links.
const SEGMENTS = ['a', 'b', 'A', '.', '..', '', 'sub', 'out', 'loop', 'dangling', 'file.txt', 'KEYS', 'ca\u0301fe', 'caf\u00e9', '\uFF0E\uFF0E', '\u2215', '\u200B', 'x\u0000y', 'ſ', 'K', ' ', '...', '.hidden'];
const segs = fc.array(fc.oneof(fc.constantFrom(...SEGMENTS), fc.string({ maxLength: 6 })), { maxLength: 8 });

t.test('paths — lexical canonical form: absolute, no dot segments, idempotent, never contains ..', async (t) => {
  fc.assert(fc.property(segs, (parts) => {
    const p = '/' + parts.join('/');
    const r = lexicalPath(p);
    if (!r.ok) return true;
    const again = lexicalPath(r.path);
    return again.ok && again.path === r.path && r.path.startsWith('/') && !r.path.split('/').includes('..') && !r.path.split('/').slice(1).includes('.') && !/\/\//.test(r.path);
  }), { numRuns: 2000 });
});

t.test('paths — lexical canonical form keeps a path under the root it was written under', async (t) => {
  fc.assert(fc.property(segs, (parts) => {
    const r = lexicalPath('/root/' + parts.join('/'));
    return !r.ok || isWithin(r.path, '/root');
  }), { numRuns: 2000 });
});

t.test('paths — real path: symlinks out, dangling links and loops never yield a path outside the root', async (t) => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'secai-paths-')));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'sub', 'a'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'file.txt'), 'x');
  writeFileSync(join(outside, 'secret'), 's');
  symlinkSync(outside, join(root, 'out'));
  symlinkSync(join(root, 'sub'), join(root, 'b'));
  symlinkSync(join(root, 'loop'), join(root, 'loop'));
  symlinkSync(join(base, 'nowhere'), join(root, 'dangling'));

  fc.assert(fc.property(segs, (parts) => {
    const r = realPath(root + '/' + parts.join('/'));
    if (!r.ok) return true;
    // Either inside the root, or — through the 'out' link — visibly outside: never hidden.
    const inside = isWithin(r.path, root);
    const viaOut = isWithin(r.path, outside);
    if (!inside && !viaOut) return false;
    if (viaOut && !parts.includes('out')) return false;
    const again = realPath(r.path);
    return again.ok && again.path === r.path;
  }), { numRuns: 1500 });

  t.same(realPath(join(root, 'out', 'secret')), { ok: true, path: join(outside, 'secret') }, 'a symlink resolves to its target');
  t.same(realPath(join(root, 'b', 'a', 'new.txt')), { ok: true, path: join(root, 'sub', 'a', 'new.txt') }, 'missing tail joined to the real ancestor');
  t.equal(realPath(join(root, 'dangling', 'x')).ok, false, 'a dangling symlink is refused (writing through it would land elsewhere)');
  t.equal(realPath(join(root, 'loop')).ok, false, 'a symlink loop is refused');
  t.equal(realPath(join(root, 'file.txt', 'x')).ok, false, 'a file used as a directory is refused');
});
