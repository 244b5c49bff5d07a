// Counts tap's test points (every nesting level) in a raw TAP log and prints "N passed, N failed".
// Each failed point is listed first with the subtests it sits in and its diagnostic block, so the tail of a
// CI log names what failed even when only that tail is kept.
import { readFileSync } from 'node:fs';

const DIAG_LINES = 24;
const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const lines = text.split('\n');
let passed = 0;
let failed = 0;
const failures = [];
/** Open subtests by indentation, and whether a failure was seen inside each. */
const open = [];
for (let i = 0; i < lines.length; i++) {
  const line = lines[i];
  const indent = line.length - line.trimStart().length;
  const sub = /^\s*# Subtest: (.*)$/.exec(line);
  if (sub) {
    while (open.length && open[open.length - 1].indent >= indent) open.pop();
    open.push({ indent, name: sub[1], failedInside: false });
    continue;
  }
  const m = /^\s*(not ok|ok) \d+/.exec(line);
  if (!m) continue;
  if (/# (SKIP|TODO)/i.test(line)) continue;
  if (m[1] === 'ok') { passed++; continue; }
  failed++;
  // tap closes a subtest with a point of its own at the subtest's indentation: when a failure inside it is
  // already listed, this one only repeats it.
  const closes = open.find((o) => o.indent === indent);
  const outer = open.filter((o) => o.indent < indent);
  for (const o of outer) o.failedInside = true;
  if (closes?.failedInside) continue;
  const path = outer.map((o) => o.name);
  const diag = [];
  if (lines[i + 1]?.trim() === '---') {
    for (let j = i + 1; j < lines.length && lines[j].trim() !== '...'; j++) diag.push(lines[j]);
  }
  failures.push([`${path.join(' > ')}${path.length ? ' > ' : ''}${line.trim()}`, ...diag.slice(0, DIAG_LINES)]);
}
if (failures.length) {
  console.log('failed:');
  for (const f of failures.slice(0, 20)) console.log(f.join('\n'));
}
console.log(`${passed} passed, ${failed} failed`);
