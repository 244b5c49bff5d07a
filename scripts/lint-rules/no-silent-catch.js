// ESLint rule: an error may not vanish without a trace (`.catch(() => {})`, an empty `catch {}`), unless a
// `lint-ok: <reason>` comment on it says why dropping it is harmless.

/** Returns true when a `lint-ok: <reason>` comment (with a reason) sits inside `node`, on its first line, or on the line above. */
function documented(sourceCode, node) {
  const startLine = node.loc.start.line;
  return sourceCode.getAllComments().some((c) => {
    if (!/\blint-ok:\s*\S/.test(c.value)) return false;
    const inside = c.range[0] >= node.range[0] && c.range[1] <= node.range[1];
    const near = c.loc.end.line === startLine - 1 || c.loc.start.line === startLine || c.loc.start.line === node.loc.end.line;
    return inside || near;
  });
}

/** A handler that does nothing with what it got: `() => {}`, `function () {}`, `() => undefined`, `() => null`, `() => void 0`. */
function isSilentHandler(fn) {
  if (fn.type !== 'ArrowFunctionExpression' && fn.type !== 'FunctionExpression') return false;
  const body = fn.body;
  if (body.type === 'BlockStatement') return body.body.length === 0;
  if (body.type === 'Identifier' && body.name === 'undefined') return true;
  if (body.type === 'Literal' && body.value === null) return true;
  return body.type === 'UnaryExpression' && body.operator === 'void' && body.argument.type === 'Literal';
}

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'Disallow swallowing errors: `.catch(() => {})` and empty catch blocks, unless marked `// lint-ok: <reason>`.' },
    schema: [],
    messages: {
      silentCatch: 'This .catch drops the error without a trace: log it, count it, or rethrow (or mark a truly harmless case `// lint-ok: <reason>`).',
      emptyCatch: 'Empty catch block: the error vanishes. Handle it, log it, or mark a truly harmless case `// lint-ok: <reason>`.',
    },
  },
  create(context) {
    const sourceCode = context.sourceCode;
    return {
      CallExpression(node) {
        const callee = node.callee;
        if (callee.type !== 'MemberExpression' || callee.computed || callee.property.type !== 'Identifier') return;
        const method = callee.property.name;
        const handler = method === 'catch' ? node.arguments[0] : method === 'then' ? node.arguments[1] : undefined;
        if (!handler || !isSilentHandler(handler)) return;
        if (documented(sourceCode, handler) || documented(sourceCode, node)) return;
        context.report({ node: handler, messageId: 'silentCatch' });
      },
      CatchClause(node) {
        if (node.body.body.length > 0) return;
        if (documented(sourceCode, node)) return;
        context.report({ node, messageId: 'emptyCatch' });
      },
    };
  },
};
