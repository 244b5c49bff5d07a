// Build step: precompiles every config schema (ajv standalone) into dist/policy/validators/, one CommonJS file per
// schema and index.json naming them with the schemas' digest, so actors neither spend ~0.2 s of CPU each compiling
// them at start nor load the validators of sections they never read. policy/load.ts uses them only if the digest matches.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { buildAjv, PRECOMPILED, readSchemas } from '../dist/policy/load.js';

const texts = readSchemas();
const ajv = buildAjv(texts, true);
const ids = texts.entries.map(([id]) => id);
for (const id of ids) ajv.getSchema(id);
const generate = standaloneCode.default ?? standaloneCode;
rmSync(PRECOMPILED, { recursive: true, force: true });
mkdirSync(PRECOMPILED, { recursive: true });
const files = {};
ids.forEach((id, i) => {
  files[id] = `v${i}.cjs`;
  writeFileSync(join(PRECOMPILED, files[id]), generate(ajv, { validate: id }));
});
writeFileSync(join(PRECOMPILED, 'index.json'), `${JSON.stringify({ digest: texts.digest, files }, null, 2)}\n`);
console.log(`precompiled ${ids.length} schemas into ${PRECOMPILED}`);
