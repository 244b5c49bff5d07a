// The build's precompiled validators must be the schemas' own, and give the same verdicts and messages.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAjv, parseConfig, PRECOMPILED, precompiledIndex, precompiledValidator, readSchemas } from '../../policy/load.js';

// The shipped policy with one unknown key under `defaults`.
const shipped = readFileSync(join(import.meta.dirname, '..', '..', 'policy', 'policy.yaml'), 'utf8').split('\n');
const at = shipped.findIndex((l) => /^  decision: deny/.test(l)) + 1;
const bad = [...shipped.slice(0, at), '  surprise: true', ...shipped.slice(at)].join('\n');

t.test('precompiled validators — built from exactly the schemas on disk', async (t) => {
  t.ok(existsSync(join(PRECOMPILED, 'index.json')), 'npm run build wrote them');
  const pre = precompiledIndex()!;
  const texts = readSchemas();
  t.equal(pre.digest, texts.digest);
  t.same(Object.keys(pre.files).sort(), texts.entries.map(([id]) => id).sort());
  for (const id of Object.keys(pre.files)) t.type(precompiledValidator(pre, id), 'function', `${id} loads`);
});

t.test('precompiled validators — same verdicts as ajv compiled at run time, line numbers included', async (t) => {
  const ajv = buildAjv(readSchemas());
  for (const doc of [{ version: 1 }, { version: 2, defaults: { decision: 'deny' } }, { version: 1, defaults: { decision: 'allow' } }]) {
    const p = precompiledValidator(precompiledIndex()!, 'policy.schema.json')!;
    const r = ajv.getSchema('policy.schema.json')!;
    t.equal(p(doc), r(doc));
    t.same(p.errors, r.errors);
  }
  t.throws(() => parseConfig(bad, 'policy.schema.json', 'x.yaml'), { message: new RegExp(`x\\.yaml:${at + 1}: /defaults unknown key 'surprise'`) });
});

t.test('precompiled validators — an index naming a file outside its folder is not followed', async (t) => {
  const ix = precompiledIndex()!;
  t.equal(precompiledValidator({ ...ix, files: { ...ix.files, 'policy.schema.json': '../load.js' } }, 'policy.schema.json'), undefined);
  t.equal(precompiledValidator(ix, 'no-such.schema.json'), undefined);
});
