// The quarantine actor's files keep no state at module level: job state lives in its machines (checked with the TypeScript parser).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const DIR = join(import.meta.dirname, '..', '..', 'actors', 'quarantine');

/** Initializers that make a mutable container (a Map, Set, array or object literal, or any `new`) at module level. */
function mutableInit(e: ts.Expression | undefined): string | null {
  if (!e) return null;
  let x = e;
  while (ts.isAsExpression(x) || ts.isSatisfiesExpression(x) || ts.isParenthesizedExpression(x)) {
    // `as const` freezes a literal: a constant table, not state.
    if (ts.isAsExpression(x) && ts.isTypeReferenceNode(x.type) && x.type.typeName.getText() === 'const') return null;
    x = x.expression;
  }
  if (ts.isNewExpression(x)) {
    const name = x.expression.getText();
    // A RegExp or an Error is not a container; everything else made with `new` at load time is.
    return ['RegExp', 'Error', 'URL', 'TextEncoder', 'TextDecoder'].includes(name) ? null : `new ${name}`;
  }
  if (ts.isArrayLiteralExpression(x)) return 'an array literal';
  if (ts.isObjectLiteralExpression(x)) return 'an object literal';
  return null;
}

/** Module-level state in one source text: `let`/`var` declarations and mutable containers bound to `const`. */
export function moduleState(fileName: string, text: string): string[] {
  const src = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: string[] = [];
  for (const st of src.statements) {
    if (!ts.isVariableStatement(st)) continue;
    const list = st.declarationList;
    const kind = list.flags & ts.NodeFlags.Let ? 'let' : list.flags & ts.NodeFlags.Const ? 'const' : 'var';
    for (const d of list.declarations) {
      const line = src.getLineAndCharacterOfPosition(d.getStart()).line + 1;
      const name = d.name.getText();
      if (kind !== 'const') { found.push(`${fileName}:${line} ${kind} ${name}`); continue; }
      const what = mutableInit(d.initializer);
      if (what) found.push(`${fileName}:${line} const ${name} = ${what}`);
    }
  }
  return found;
}

t.test('quarantine actor — no module-level let/var or mutable container in actors/quarantine/*.ts', async (t) => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  t.ok(files.includes('main.ts') && files.length >= 5, `${files.length} files checked`);
  const found = files.flatMap((f) => moduleState(f, readFileSync(join(DIR, f), 'utf8')));
  t.same(found, [], found.join('\n'));
});

t.test('quarantine actor — the check sees what the old main.ts held (reports, downloads, lets)', async (t) => {
  const old = [
    'let policy: QuarantinePolicy;',
    'let finishing: Promise<unknown> = Promise.resolve();',
    'const reports = new Map<string, Report>();',
    'const downloading = new Map<string, (who: string) => Promise<void>>();',
    'var n = 0;',
    'const queue: string[] = [];',
    'const cache = {} as Record<string, number>;',
    // Not state: constants, frozen tables, functions, a pattern.
    'const MAX = 1000;',
    "const NAMES = ['a', 'b'] as const;",
    'const f = () => 1;',
    'const RE = new RegExp("x");',
    'export function g() { let local = 1; return local; }',
  ].join('\n');
  t.same(moduleState('old.ts', old).map((s) => s.replace(/^old\.ts:\d+ /, '')), [
    'let policy', 'let finishing', 'const reports = new Map', 'const downloading = new Map', 'var n', 'const queue = an array literal', 'const cache = an object literal',
  ]);
});
