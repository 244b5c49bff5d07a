// Build step: precompiles every config schema into dist/policy/validators.cjs (ajv standalone), so actors
// do not spend ~0.2 s of CPU each compiling them at start. policy/load.ts uses it only if the digests match.
import { writeFileSync } from 'node:fs';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { buildAjv, PRECOMPILED, readSchemas } from '../dist/policy/load.js';

const texts = readSchemas();
const ajv = buildAjv(texts, true);
const ids = texts.entries.map(([id]) => id);
for (const id of ids) ajv.getSchema(id);
const generate = standaloneCode.default ?? standaloneCode;
const code = generate(ajv, Object.fromEntries(ids.map((id, i) => [`v${i}`, id])));
const byId = ids.map((id, i) => `  ${JSON.stringify(id)}: module.exports.v${i},`).join('\n');
writeFileSync(PRECOMPILED, `${code}\nmodule.exports.digest = ${JSON.stringify(texts.digest)};\nmodule.exports.validators = {\n${byId}\n};\n`);
console.log(`precompiled ${ids.length} schemas into ${PRECOMPILED}`);
