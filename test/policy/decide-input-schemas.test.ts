// The decision inputs' schemas are compiled without ajv's meta-schema pass at run time; this is that check.
import t from 'tap';
import { Ajv } from 'ajv';
import { DOMAINS, INPUT_SCHEMAS } from '../../policy/decide/index.js';

t.test('every domain has an input schema, valid against the meta-schema and strict-mode compilable', async (t) => {
  const ajv = new Ajv({ allErrors: false, strict: true });
  t.same(Object.keys(INPUT_SCHEMAS).sort(), [...DOMAINS].sort());
  for (const d of DOMAINS) {
    t.ok(ajv.validateSchema(INPUT_SCHEMAS[d]), `${d}: ${ajv.errorsText(ajv.errors)}`);
    t.doesNotThrow(() => ajv.compile(INPUT_SCHEMAS[d]), d);
  }
  t.notOk(ajv.validateSchema({ type: 'object', properties: { a: { type: 'strnig' } } }), 'the check can fail');
});
