import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanFile } from '../../actors/quarantine/scan/scan-file.js';
import { integrityStage } from '../../actors/quarantine/stages/integrity.js';
import { writeDiffusersFolder } from '../fixtures/diffusers-writer.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { artifact, noProgress, tempDir, writeTo } from './helpers.js';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

t.test('integrity — pinned and matching passes; pinned by artifact name or file name', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'work-123.gguf', encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 })));
  const byName = await integrityStage(artifact(p, 'file', 'llama.gguf'), { pins: new Map([['llama.gguf', sha(p)]]), requirePin: true }, noProgress);
  t.equal(byName.verdict, 'pass', byName.reason);
  t.equal(byName.evidence.sha256, sha(p));
  const byFile = await integrityStage(artifact(p, 'file', 'other'), { pins: new Map([['work-123.gguf', sha(p).toUpperCase()]]), requirePin: true }, noProgress);
  t.equal(byFile.verdict, 'pass', byFile.reason);
});

t.test('integrity — a mismatching pin fails with both digests', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'm.gguf', encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 })));
  const r = await integrityStage(artifact(p), { pins: new Map([['m.gguf', 'ab'.repeat(32)]]), requirePin: false }, noProgress);
  t.equal(r.verdict, 'fail');
  t.equal(r.evidence.rule, 'digest_mismatch');
  t.equal(r.evidence.expected, 'ab'.repeat(32));
  t.equal(r.evidence.sha256, sha(p));
});

t.test('integrity — unpinned warns, or fails when policy requires a pin', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'm.gguf', encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 })));
  t.equal((await integrityStage(artifact(p), { pins: new Map(), requirePin: false }, noProgress)).verdict, 'warn');
  t.equal((await integrityStage(artifact(p), { pins: new Map(), requirePin: true }, noProgress)).verdict, 'fail');
});

t.test('integrity — any file hashes, even one that is not a model', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'x.bin', Buffer.from('not a model at all'));
  const r = await integrityStage(artifact(p), { pins: new Map([['x.bin', sha(p)]]), requirePin: true }, noProgress);
  t.equal(r.verdict, 'pass');
});

t.test('integrity — folders: a digest over every file path and hash', async (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'sd');
  writeDiffusersFolder(f);
  const r = await integrityStage(artifact(f, 'folder'), { pins: new Map(), requirePin: false }, noProgress);
  t.equal(r.evidence.digestOf, 'folder');
  const digest = r.evidence.sha256 as string;
  const ok = await integrityStage(artifact(f, 'folder'), { pins: new Map([['sd', digest]]), requirePin: true }, noProgress);
  t.equal(ok.verdict, 'pass');
  writeFileSync(join(f, 'tokenizer', 'merges.txt'), '#version: 0.2\na c\n');
  const changed = await integrityStage(artifact(f, 'folder'), { pins: new Map([['sd', digest]]), requirePin: true }, noProgress);
  t.equal(changed.verdict, 'fail');
});

t.test('integrity — stages 3 and 5 share one pass; a changed file is scanned again', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'm.gguf', encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 })));
  const a = scanFile(p);
  const b = scanFile(p);
  t.equal(await a, await b, 'the same scan object');
  writeFileSync(p, encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32, seed: 9 })));
  utimesSync(p, new Date(), new Date(Date.now() + 5000));
  const c = await scanFile(p);
  t.not(c, await a);
  t.equal(c.sha256, sha(p));
});

t.test('integrity — a catalog import is held to its entry\'s pin: match passes, mismatch fails naming both hashes whole', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'cat.gguf', encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 })));
  const fromCatalog = (pin: string) => ({ ...artifact(p), origin: { type: 'url' as const, url: 'https://huggingface.co/o/m/resolve/main/cat.gguf', catalog: { id: 'cat', sha256: pin, catalogDigest: 'cd'.repeat(32) } } });
  const ok = await integrityStage(fromCatalog(sha(p)), { pins: new Map(), requirePin: true }, noProgress);
  t.equal(ok.verdict, 'pass', ok.reason);
  t.match(ok.evidence, { pinKey: 'catalog:cat', pinned: true, catalog: { id: 'cat', catalogDigest: 'cd'.repeat(32) } });
  const bad = await integrityStage(fromCatalog('ab'.repeat(32)), { pins: new Map(), requirePin: false }, noProgress);
  t.equal(bad.verdict, 'fail');
  t.equal(bad.reason, `SHA-256 mismatch for cat.gguf: the signed catalog entry cat pins ${'ab'.repeat(32)}, the downloaded file is ${sha(p)}`);
  t.match(bad.evidence, { rule: 'catalog_digest_mismatch', expected: 'ab'.repeat(32), found: sha(p) });
});

t.test('integrity — a catalog pin does not override the lock file: each pin that applies must hold', async (t) => {
  const dir = tempDir(t);
  const p = writeTo(dir, 'both.gguf', encodeGguf(llamaSpec({ layers: 1, dims: 64, ff: 64, vocab: 32 })));
  const a = { ...artifact(p), origin: { type: 'url' as const, url: 'https://huggingface.co/o/m/resolve/main/both.gguf', catalog: { id: 'both', sha256: sha(p), catalogDigest: 'cd'.repeat(32) } } };
  const lockDisagrees = await integrityStage(a, { pins: new Map([['both.gguf', 'ef'.repeat(32)]]), requirePin: false }, noProgress);
  t.equal(lockDisagrees.verdict, 'fail', 'the catalog matches, the lock does not: rejected');
  t.equal(lockDisagrees.evidence.rule, 'digest_mismatch');
  const bothAgree = await integrityStage(a, { pins: new Map([['both.gguf', sha(p)]]), requirePin: false }, noProgress);
  t.equal(bothAgree.verdict, 'pass');
  t.match(bothAgree.reason, /catalog:both and both\.gguf/);
  // The same URL imported by hand carries no catalog pin: unpinned, as before.
  const byHand = await integrityStage({ ...artifact(p), origin: { type: 'url', url: a.origin.url } }, { pins: new Map(), requirePin: false }, noProgress);
  t.equal(byHand.verdict, 'warn');
});
