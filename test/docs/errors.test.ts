import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
const documented = new Set([...doc.matchAll(/^\| `(SECAI_E_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
const defined = new Set(Object.values(ErrorCode) as string[]);

t.test('errors — every code in common/errors.ts is documented in docs/errors.md', async (t) => {
  for (const code of defined) t.ok(documented.has(code), `${code} is documented`);
});

t.test('errors — docs/errors.md lists no code that does not exist', async (t) => {
  for (const code of documented) t.ok(defined.has(code), `${code} exists in common/errors.ts`);
});

t.test('errors — codes are unique and stable in shape', async (t) => {
  const values = Object.values(ErrorCode) as string[];
  t.equal(new Set(values).size, values.length, 'no two names share a code');
  for (const v of values) t.match(v, /^SECAI_E_[A-Z0-9_]+$/);
});
