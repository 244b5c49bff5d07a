// ESLint flat config: promise safety (type-aware), no import cycles, no silent catches, and the layering of
// docs/architecture.md ("Layers") as import restrictions. `npm run lint`; test/lint/lint.test.ts runs it in `npm test`.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import noSilentCatch from './scripts/lint-rules/no-silent-catch.js';

/**
 * .gitignore as flat-config ignore globs (build output, dependencies, state, generated files), so the two cannot drift:
 * `dir/` ignores that folder at any depth, `/dir/` only at the top, `*.log` any such file.
 */
export function gitignoreGlobs(root) {
  const file = join(root, '.gitignore');
  if (!existsSync(file)) return [];
  const globs = [];
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('!')) throw new Error(`eslint.config.js: negated .gitignore entries are not mirrored: ${line}`);
    const dirOnly = line.endsWith('/');
    const body = line.replace(/^\//, '').replace(/\/$/, '');
    const anchored = line.startsWith('/') || body.includes('/');
    const glob = anchored ? body : `**/${body}`;
    globs.push(`${glob}/**`);
    if (!dirOnly) globs.push(glob);
  }
  return globs;
}

/** The layers as import-x/no-restricted-paths zones, for the tree at `root`. */
export function layerZones(root) {
  // Each actor's own folder: it may import anything of its own, nothing of another actor's.
  const actorNames = readdirSync(join(root, 'actors'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  return [
    { target: 'machines', from: ['bus', 'workers', 'actors', 'runtime'], message: 'machines are pure: no bus, workers, actors or runtime (effects are provided by the actor).' },
    { target: 'bus', from: ['actors', 'runtime'], message: 'the bus layer does not know actors or the runtime.' },
    { target: 'workers', from: ['bus', 'actors'], message: 'workers talk to their actor over IPC only, never the bus.' },
    { target: 'common', from: ['actors', 'bus', 'runtime', 'machines', 'workers'], message: 'common is the bottom layer.' },
    ...actorNames.map((name) => ({
      target: `actors/${name}`,
      from: 'actors',
      except: [`./${name}`],
      message: "an actor never imports another actor's internals: shared things go to contracts/ or common/.",
    })),
  ];
}

/** The whole configuration for the tree at `root` (test/lint/layering.test.ts lints small trees of its own with it). */
export function lintConfig(root) {
  return tseslint.config(
    {
      // What git ignores (build output, dependencies, state, generated files) is not linted; node_modules and dist always.
      ignores: ['**/node_modules/**', 'dist/**', ...gitignoreGlobs(root)],
    },
    {
      linterOptions: { reportUnusedDisableDirectives: 'error' },
      plugins: { 'import-x': importX, local: { rules: { 'no-silent-catch': noSilentCatch } } },
      settings: {
        // Without these, import-x treats .ts files as foreign and no-cycle silently sees no edges.
        'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
        'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
        // Sources import './x.js' and mean './x.ts' (NodeNext).
        'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.mjs', '.json', '.node'], extensionAlias: { '.js': ['.ts', '.tsx', '.js'] } })],
      },
      rules: {
        'local/no-silent-catch': 'error',
        'import-x/no-cycle': ['error', { ignoreExternal: true }],
        'import-x/no-restricted-paths': ['error', { basePath: root, zones: layerZones(root) }],
      },
    },
    {
      files: ['**/*.ts', '**/*.tsx'],
      languageOptions: {
        parser: tseslint.parser,
        parserOptions: {
          projectService: { allowDefaultProject: ['scripts/*.ts', 'ui/vite.config.ts'] },
          tsconfigRootDir: root,
        },
      },
      plugins: { '@typescript-eslint': tseslint.plugin },
      rules: {
        // tap tracks its subtests itself: an un-awaited `t.test(...)` is how tap is written, not a lost promise.
        '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] }],
        '@typescript-eslint/no-misused-promises': 'error',
      },
    },
    {
      // One source of error codes (docs/errors.md lists them, a test keeps both in sync): no spelled-out codes elsewhere.
      files: ['actors/**', 'bus/**', 'machines/**', 'runtime/**', 'contracts/**', 'workers/**', 'policy/**', 'common/**', 'bin/**'],
      ignores: ['common/errors.ts'],
      rules: {
        'no-restricted-syntax': ['error', { selector: 'Literal[value=/^SECAI_E_/]', message: 'take error codes from common/errors (ErrorCode.X), not a string literal.' }],
      },
    },
    {
      // import-x cannot see builtins (they resolve to no path), so node:* (or a bare 'fs') is kept out of machines here.
      files: ['machines/**'],
      rules: {
        'no-restricted-imports': ['error', { patterns: [{ regex: `^(node:.*|(${builtinModules.join('|')})(/.*)?)$`, message: 'machines are pure: no node:* (effects are provided by the actor).' }] }],
      },
    },
  );
}

export default lintConfig(import.meta.dirname);
