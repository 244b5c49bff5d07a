// npm test runs the linter (eslint.config.js) over the whole repository: promise safety, import cycles, silent catches, layers.
import { relative } from 'node:path';
import t from 'tap';
import { ESLint } from 'eslint';
import { projectRoot } from '../../common/paths.js';

// Type-aware lint of the whole tree takes ~30 s alone and several minutes beside the rest of the suite on 2 cores.
t.setTimeout(900_000);

t.test('lint — the repository has no lint violations', async (t) => {
  const eslint = new ESLint({ cwd: projectRoot });
  const results = await eslint.lintFiles(['.']);
  const problems = results.flatMap((r) =>
    r.messages.map((m) => `${relative(projectRoot, r.filePath)}:${m.line}:${m.column} ${m.ruleId ?? 'parse error'}: ${m.message}`));
  t.ok(results.length > 100, `the whole tree was linted (${results.length} files)`);
  t.same(problems, [], `no violations (npm run lint shows the same):\n${problems.join('\n')}`);
});

t.test('lint — build output, dependencies and git-ignored files are not linted', async (t) => {
  const eslint = new ESLint({ cwd: projectRoot });
  for (const path of ['dist/actors/vault/main.js', 'dist/policy/validators.cjs', 'dist/ui/assets/index.js', 'node_modules/xstate/dist/index.js',
    'tmp/x.ts', 'coverage/x.js', 'bench-out/x.ts', 'test-artifacts/x.ts', '.tap/x.js', '.secai/x.ts']) {
    t.ok(await eslint.isPathIgnored(`${projectRoot}/${path}`), `${path} is ignored`);
  }
  t.notOk(await eslint.isPathIgnored(`${projectRoot}/actors/vault/main.ts`), 'sources are linted');
  t.notOk(await eslint.isPathIgnored(`${projectRoot}/test/lint/lint.test.ts`), 'tests are linted');
});
