// Machines own state: an actor's main.ts is wiring, so it may not keep state in module variables (a `let`, a `var`,
// or a module-level Map/Set/array/object that something mutates). Parsed with the TypeScript compiler API.
import t from 'tap';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..', '..');

/**
 * Memos of pure functions, by file and name: dropping one changes nothing but time, so it is not state a
 * machine should own. scan-file's cache is keyed by the file's identity (path, size, mtime, inode) and shares
 * one read of a file between stages 3 and 5. Nothing that decides or remembers may be added here.
 */
const MEMOS: Record<string, string> = { 'actors/quarantine/scan/scan-file.ts': 'cache' };

/** Instances that hold no state worth a machine (encoders, patterns). */
const STATELESS = new Set(['TextEncoder', 'TextDecoder', 'RegExp', 'URL']);

/** Methods that change a container in place. */
const MUTATORS = new Set(['set', 'add', 'delete', 'clear', 'push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin']);

/** Module-level state in one source file: `let`/`var`, and `const` containers (new Map/Set/WeakMap/…, [], {}) that the file mutates. */
export function moduleState(file: string, text = readFileSync(file, 'utf8')): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const containers = new Map<string, number>();
  const line = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    const list = st.declarationList;
    const isConst = (list.flags & ts.NodeFlags.Const) !== 0;
    for (const d of list.declarations) {
      const name = d.name.getText(sf);
      if (!isConst) {
        found.push(`${(list.flags & ts.NodeFlags.Let) !== 0 ? 'let' : 'var'} ${name} (line ${line(d)})`);
        continue;
      }
      const init = d.initializer;
      if (!init || !ts.isIdentifier(d.name)) continue;
      // Any other object made at module level (a rate limiter, a counter, a store) is state: it belongs in a machine.
      if (ts.isNewExpression(init) && !/^(Weak)?(Map|Set)$|^Array$/.test(init.expression.getText(sf)) && !STATELESS.has(init.expression.getText(sf))) {
        found.push(`const ${name} = new ${init.expression.getText(sf)}() (line ${line(d)})`);
        continue;
      }
      const container = (ts.isNewExpression(init) && /^(Weak)?(Map|Set)$|^Array$/.test(init.expression.getText(sf)))
        || ts.isArrayLiteralExpression(init) || ts.isObjectLiteralExpression(init);
      if (container) containers.set(d.name.text, line(d));
    }
  }
  if (containers.size) {
    // A container counts as state when the file changes it: a mutating call, an element/property write, or delete.
    const visit = (n: ts.Node): void => {
      const target = (e: ts.Expression): string | undefined => {
        let x = e;
        while (ts.isPropertyAccessExpression(x) || ts.isElementAccessExpression(x)) x = x.expression;
        return ts.isIdentifier(x) ? x.text : undefined;
      };
      if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && MUTATORS.has(n.expression.name.text)) {
        const name = target(n.expression.expression);
        if (name && containers.has(name)) found.push(`${name}.${n.expression.name.text}() mutates a module-level container (declared line ${containers.get(name)})`);
      }
      if (ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment
        && (ts.isPropertyAccessExpression(n.left) || ts.isElementAccessExpression(n.left))) {
        const name = target(n.left);
        if (name && containers.has(name)) found.push(`write into module-level ${name} (line ${line(n)})`);
      }
      if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)
        && (ts.isPropertyAccessExpression(n.operand) || ts.isElementAccessExpression(n.operand))) {
        const name = target(n.operand);
        if (name && containers.has(name)) found.push(`write into module-level ${name} (line ${line(n)})`);
      }
      if (ts.isDeleteExpression(n)) {
        const name = target(n.expression);
        if (name && containers.has(name)) found.push(`delete from module-level ${name} (line ${line(n)})`);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return found;
}

t.test('no module state — the checker sees lets, vars and mutated containers, and passes constants', async (t) => {
  t.same(moduleState('x.ts', 'let a = 1;\nvar b;\nexport const C = 3;'), ['let a (line 1)', 'var b (line 2)']);
  t.same(moduleState('x.ts', 'const m = new Map();\nfunction f() { m.set(1, 2); }'), ['m.set() mutates a module-level container (declared line 1)']);
  t.same(moduleState('x.ts', 'const o = {};\nconst f = () => { o.x = 1; };'), ['write into module-level o (line 2)']);
  t.same(moduleState('x.ts', 'const o = { a: { b: 1 } };\nconst f = () => { o.a.b++; };'), ['write into module-level o (line 2)']);
  t.same(moduleState('x.ts', 'const names = ["a", "b"];\nconst s = new Set(names);\nexport const has = (x: string) => s.has(x);'), [], 'read-only tables are fine');
  t.same(moduleState('x.ts', 'function f() { let x = 1; x++; return x; }'), [], 'function-local state is not module state');
  t.same(moduleState('x.ts', 'const limiter = new RateLimiter();\nconst enc = new TextEncoder();'), ['const limiter = new RateLimiter() (line 1)']);
});

t.test('no module state — every module of every actor keeps no state at module level', async (t) => {
  const actors = readdirSync(join(ROOT, 'actors'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  let checked = 0;
  for (const actor of actors) {
    if (!existsSync(join(ROOT, 'actors', actor, 'main.ts'))) continue;
    const files = (readdirSync(join(ROOT, 'actors', actor), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    for (const f of files) {
      checked++;
      const memo = MEMOS[`actors/${actor}/${f}`];
      const found = moduleState(join(ROOT, 'actors', actor, f)).filter((m) => !memo || !m.startsWith(`${memo}.`));
      t.same(found, [], `actors/${actor}/${f}: state belongs in machines/${actor} (context and states); effects are provided actors`);
    }
  }
  t.ok(checked > 0, `${checked} actor modules checked`);
});
