// npm run bench: every benchmark, one after the other (never in parallel: they measure the same cores).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = import.meta.dirname;
const only = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()
  .filter((f) => !only.length || only.includes(f.replace(/\.bench\.ts$/, '')));
const results: string[] = [];
let failed = 0;
for (const f of files) {
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, ['--import=tsx', join(dir, f)], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  process.stdout.write(r.stdout);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0) failed++;
  if (last.startsWith('{')) results.push(last);
}
console.log('\n== summary');
for (const line of results) console.log(line);
process.exit(failed ? 1 : 0);
