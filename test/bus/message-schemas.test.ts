// Every message schema of every manifest is a valid JSON Schema (the run-time validator skips this check).
import t from 'tap';
import { Ajv } from 'ajv';
import { MANIFESTS } from '../../runtime/catalog.js';
import { addBusKeywords, BUS_AJV_OPTIONS } from '../../bus/schema.js';
import { effectiveManifest } from '../../bus/standard-ops.js';

t.test('message schemas — all valid against the meta-schema and compilable in strict mode', async (t) => {
  const ajv = addBusKeywords(new Ajv({ ...BUS_AJV_OPTIONS }));
  let n = 0;
  for (const m of MANIFESTS.map(effectiveManifest)) {
    const schemas: [string, unknown][] = [
      ...Object.entries(m.serves).flatMap(([op, s]) => [[`${m.name}.${op} request`, s.request], [`${m.name}.${op} reply`, s.reply]] as [string, unknown][]),
      ...Object.entries(m.commands).flatMap(([op, s]) => [[`cmd ${m.name}.${op} request`, s.request], [`cmd ${m.name}.${op} reply`, s.reply]] as [string, unknown][]),
      ...Object.entries(m.publishes).map(([ev, s]) => [`evt ${m.name}.${ev}`, s] as [string, unknown]),
    ];
    for (const [what, schema] of schemas) {
      const ok = ajv.validateSchema(schema as object);
      if (!ok) t.fail(`${what}: ${ajv.errorsText(ajv.errors)}`);
      try {
        ajv.compile(schema as object);
      } catch (err) {
        t.fail(`${what}: ${(err as Error).message}`);
      }
      n++;
    }
  }
  t.ok(n > 100, `checked ${n} schemas`);
});

t.test('message schemas — the checker catches a broken schema', async (t) => {
  const ajv = addBusKeywords(new Ajv({ ...BUS_AJV_OPTIONS }));
  t.notOk(ajv.validateSchema({ type: 'object', properties: { a: { type: 'strnig' } } }));
  t.throws(() => ajv.compile({ type: 'object', propertes: {} }));
});
