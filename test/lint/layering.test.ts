// The lint rules bite: a small tree in a temporary folder, linted with the repository's own config, breaks each rule once.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { ESLint, type Linter } from 'eslint';
import { projectRoot } from '../../common/paths.js';

// Type-aware lint starts a TypeScript project service: seconds alone, much longer on a loaded 2-core box.
t.setTimeout(600_000);

const FILES: Record<string, string> = {
  'tsconfig.json': JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, lib: ['ES2023'], types: [], skipLibCheck: true, noEmit: true },
    include: ['**/*.ts'],
  }),
  'package.json': JSON.stringify({ type: 'module' }),
  'bus/client.ts': 'export const connect = (): number => 1;\n',
  'bus/leaks-runtime.ts': "import { host } from '../runtime/host.js';\nexport const h = host;\n",
  'runtime/host.ts': 'export const host = 1;\n',
  'workers/w.ts': "import { connect } from '../bus/client.js';\nexport const w = connect;\n",
  'machines/m/m.machine.ts': [
    "import { connect } from '../../bus/client.js';",
    "import { readFileSync } from 'node:fs';",
    "import { join } from 'path';",
    "export const m = [connect, readFileSync, join, 'SECAI_E_INTERNAL'];",
    '',
  ].join('\n'),
  'machines/pure/pure.machine.ts': "import { ErrorCode } from '../../common/errors.js';\nexport const p = ErrorCode.INTERNAL;\n",
  'common/errors.ts': "export const ErrorCode = { INTERNAL: 'SECAI_E_INTERNAL' } as const;\n",
  'common/reaches-up.ts': "import { secret } from '../actors/b/secret.js';\nexport const r = secret;\n",
  'common/cycle-a.ts': "import { b } from './cycle-b.js';\nexport const a = (): number => b() + 1;\n",
  'common/cycle-b.ts': "import { a } from './cycle-a.js';\nexport const b = (): number => (a.length ? 0 : 1);\n",
  'actors/a/helper.ts': 'export const helper = (): number => 2;\n',
  'actors/a/main.ts': [
    "import { helper } from './helper.js';",
    "import { secret } from '../b/secret.js';",
    "import { ErrorCode } from '../../common/errors.js';",
    'export const main = [helper, secret, ErrorCode];',
    '',
  ].join('\n'),
  'actors/a/own.ts': "import { helper } from './helper.js';\nimport { connect } from '../../bus/client.js';\nexport const own = [helper, connect];\n",
  'actors/b/secret.ts': 'export const secret = 42;\n',
  'actors/b/promises.ts': [
    'async function work(): Promise<void> {}',
    'export function floating(): void {',
    '  work();',
    '}',
    'export function misused(): void {',
    '  if (work()) console.log("always");',
    '}',
    'export function awaited(): Promise<void> {',
    '  return work();',
    '}',
    'export function voided(): void {',
    '  void work().then(() => 1, (err: unknown) => console.error(err));',
    '}',
    '',
  ].join('\n'),
  'actors/b/catches.ts': [
    'async function work(): Promise<void> {}',
    'export async function silentCatch(): Promise<void> {',
    '  await work().catch(() => {});',
    '}',
    'export async function silentThen(): Promise<void> {',
    '  await work().then(() => 1, () => undefined);',
    '}',
    'export function emptyCatch(): void {',
    '  try { JSON.parse("{"); } catch {}',
    '}',
    'export function commentOnly(): void {',
    '  try { JSON.parse("{"); } catch { /* ignore */ }',
    '}',
    'export async function noReason(): Promise<void> {',
    '  await work().catch(() => {}); // lint-ok:',
    '}',
    '',
  ].join('\n'),
  'actors/b/allowed.ts': [
    'async function work(): Promise<void> {}',
    'export async function documented(): Promise<void> {',
    '  await work().catch(() => {}); // lint-ok: teardown of something already gone',
    '}',
    'export function documentedBlock(): void {',
    '  try { JSON.parse("{"); } catch { /* lint-ok: not JSON is a valid answer here */ }',
    '}',
    'export async function logged(): Promise<void> {',
    '  await work().catch((err: unknown) => console.error(err));',
    '}',
    'export function handled(): boolean {',
    '  try { JSON.parse("{"); return true; } catch { return false; }',
    '}',
    '',
  ].join('\n'),
};

/** Each file's problems as `line:rule`, for the whole temporary tree linted with the repository's config. */
async function lintTree(): Promise<Map<string, string[]>> {
  const dir = mkdtempSync(join(tmpdir(), 'secai-lint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const config = (await import(pathToFileURL(join(projectRoot, 'eslint.config.js')).href)) as { lintConfig: (root: string) => Linter.Config[] };
  const eslint = new ESLint({ cwd: dir, overrideConfigFile: true, overrideConfig: config.lintConfig(dir) });
  const out = new Map<string, string[]>();
  for (const r of await eslint.lintFiles(['.'])) out.set(relative(dir, r.filePath), r.messages.map((m) => `${m.line}:${m.ruleId ?? `parse error: ${m.message}`}`));
  return out;
}

t.test('lint rules — each layer rule, promise rule, cycle and silent catch is reported where it is broken, and only there', async (t) => {
  const found = await lintTree();
  const zone = 'import-x/no-restricted-paths';
  const expected: Record<string, string[]> = {
    'machines/m/m.machine.ts': [`1:${zone}`, '2:no-restricted-imports', '3:no-restricted-imports', '4:no-restricted-syntax'],
    'machines/pure/pure.machine.ts': [],
    'bus/client.ts': [],
    'bus/leaks-runtime.ts': [`1:${zone}`],
    'runtime/host.ts': [],
    'workers/w.ts': [`1:${zone}`],
    'common/errors.ts': [],
    'common/reaches-up.ts': [`1:${zone}`],
    'common/cycle-a.ts': ['1:import-x/no-cycle'],
    'common/cycle-b.ts': ['1:import-x/no-cycle'],
    'actors/a/helper.ts': [],
    'actors/a/main.ts': [`2:${zone}`],
    'actors/a/own.ts': [],
    'actors/b/secret.ts': [],
    'actors/b/promises.ts': ['3:@typescript-eslint/no-floating-promises', '6:@typescript-eslint/no-misused-promises'],
    'actors/b/catches.ts': ['3:local/no-silent-catch', '6:local/no-silent-catch', '9:local/no-silent-catch', '12:local/no-silent-catch', '15:local/no-silent-catch'],
    'actors/b/allowed.ts': [],
  };
  for (const [file, problems] of Object.entries(expected)) {
    t.same(found.get(file), problems, `${file}: ${problems.length ? problems.join(', ') : 'clean'}`);
  }
  t.same([...found.keys()].sort(), Object.keys(expected).sort(), 'every file of the tree was linted');
});
