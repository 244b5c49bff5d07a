// Build step: bundles each process entry (every actor's main.js and the two commands) into one file, in place.
// A Node process that loads one file instead of ~300 ESM modules and CommonJS files reaches ready in a third of
// the time, and the appliance starts ten of them on two cores. Packages with native code, wasm, worker-thread
// files or lazy loading (pino-pretty, libsodium, node-llama-cpp, onnxruntime) stay external and load from
// node_modules as before; worker entries (workers/*, the scan worker) are not bundled.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const actors = readdirSync('dist/actors', { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => join('dist/actors', d.name, 'main.js'))
  .filter((f) => readdirSync(join(f, '..')).includes('main.js'));
const entries = [...actors, 'dist/bin/secai.js', 'dist/bin/securectl.js'];

const result = await build({
  entryPoints: entries,
  outdir: 'dist',
  outbase: 'dist',
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['pino-pretty', 'libsodium-wrappers-sumo', 'node-llama-cpp', 'onnxruntime-node'],
  // CommonJS packages inside the bundle call require() for Node built-ins.
  banner: { js: "import { createRequire as __secaiCreateRequire } from 'node:module'; const require = __secaiCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
// tsc's maps of these entries describe the files they replaced.
for (const e of entries) rmSync(`${e}.map`, { force: true });
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`bundled ${entries.length} entries (${(bytes / 1048576).toFixed(1)} MiB)`);
