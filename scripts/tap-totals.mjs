// Counts tap's test points (every nesting level) in a raw TAP log and prints "N passed, N failed".
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
let passed = 0;
let failed = 0;
for (const line of text.split('\n')) {
  const m = /^\s*(not ok|ok) \d+/.exec(line);
  if (!m) continue;
  if (/# (SKIP|TODO)/i.test(line)) continue;
  if (m[1] === 'ok') passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed`);
