// The PII scanner's evasion property, shared by the quick run (npm test) and the long one (test:long):
// a value the scanner finds on its own is still found, whole, whatever digits, separators or text surround it.
import fc from 'fast-check';
import { scan, type Finding } from '../../policy/pii/scanner.js';

export interface Sample { value: string; multiGroup: boolean; prefix: string; suffix: string }

const digit = fc.integer({ min: 0, max: 9 });
const digits = (n: number) => fc.array(digit, { minLength: n, maxLength: n }).map((a) => a.join(''));
const pad = (v: number, n: number) => String(v).padStart(n, '0');

/** Luhn check digit for `body` (the digits before it). */
function luhnDigit(body: string): number {
  let sum = 0;
  for (let k = 0; k < body.length; k++) {
    let d = body.charCodeAt(body.length - 1 - k) - 48;
    if (k % 2 === 0) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

const ssn = fc.record({
  area: fc.integer({ min: 1, max: 899 }).filter((a) => a !== 666),
  group: fc.integer({ min: 1, max: 99 }),
  serial: fc.integer({ min: 1, max: 9999 }),
  sep: fc.constantFrom('-', ' '),
}).map(({ area, group, serial, sep }) => ({ value: [pad(area, 3), pad(group, 2), pad(serial, 4)].join(sep), multiGroup: true }));

const card = fc.record({ first: fc.integer({ min: 2, max: 6 }), len: fc.integer({ min: 13, max: 19 }), rest: digits(18), sep: fc.constantFrom('', ' ', '-') })
  .map(({ first, len, rest, sep }) => {
    const body = String(first) + rest.slice(0, len - 2);
    const all = body + String(luhnDigit(body));
    const value = sep === '' ? all : (all.match(/.{1,4}/g) ?? []).join(sep);
    return { value, multiGroup: sep !== '' };
  });

const ipv4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }).map((o) => ({ value: o.join('.'), multiGroup: true }));

const nanp = fc.record({ area: fc.integer({ min: 200, max: 999 }), exch: fc.integer({ min: 200, max: 999 }), line: fc.integer({ min: 0, max: 9999 }), form: fc.integer({ min: 0, max: 3 }) })
  .map(({ area, exch, line, form }) => {
    const l = pad(line, 4);
    const value = [`${area}-${exch}-${l}`, `${area}.${exch}.${l}`, `${area} ${exch} ${l}`, `(${area}) ${exch}-${l}`][form]!;
    return { value, multiGroup: true };
  });

const intl = fc.record({ cc: fc.integer({ min: 1, max: 99 }), a: fc.integer({ min: 10, max: 99 }), b: fc.integer({ min: 1000, max: 9999 }), c: fc.integer({ min: 1000, max: 9999 }) })
  .map(({ cc, a, b, c }) => ({ value: `+${cc} ${a} ${b} ${c}`, multiGroup: true }));

export const value = fc.oneof(ssn, card, ipv4, nanp, intl);

const NBSP = '\u00a0';
/** What an attacker puts between a value and its padding. */
const boundaries = [' ', '  ', '\t', '\n', '\r\n', NBSP, ',', ';', '/', ':', '=', '(', ')', '[', ']', '"', "'", '-', '_', '|', '#', '*', '%20', '+'];
const filler = fc.oneof(
  digits(1), digits(2), digits(4), digits(9),
  fc.constantFrom('a', 'x', 'ID', 'ssn', 'card', 'no', 'é', '💡', 'items', 'total', 'v', 'SSN#', 'tel'),
  fc.constantFrom(...boundaries, '.', '-'),
);
const padding = fc.array(filler, { maxLength: 8 }).map((a) => a.join(''));

/**
 * Padding on both sides, each joined to the value by a boundary, or glued directly when the value has
 * several groups. A lone group after `<digit>.` is a decimal fraction by design, so `.` only follows
 * text there; glued letters or digits are part of one word, so a lone group always gets a boundary.
 */
export const sample: fc.Arbitrary<Sample> = fc.record({
  v: value, pre: padding, post: padding,
  bPre: fc.constantFrom(...boundaries, '.', ''), bPost: fc.constantFrom(...boundaries, '.', ''),
}).map(({ v, pre, post, bPre, bPost }) => {
  let before = bPre;
  // Digits glued to digits make another number, not a padded one.
  if (before === '' && /[0-9]$/.test(pre)) before = ' ';
  if (!v.multiGroup && (before === '' || (before === '.' && /[0-9]$/.test(pre)))) before = ' ';
  // `+44 …` keeps its plus only when no digit is right before it (`10+44` is arithmetic).
  if (v.value.startsWith('+') && /[0-9]$/.test(pre + before)) before += ' ';
  let after = bPost;
  if ((after === '' && /^[0-9]/.test(post)) || (!v.multiGroup && after === '')) after = ' ';
  return { value: v.value, multiGroup: v.multiGroup, prefix: pre + before, suffix: after + post };
});

/** The finding that covers the value's bytes, if any. */
export function covering(s: Sample): Finding | undefined {
  // A leading `+` is no secret: `+6 90 4373 4047 81990536` may well be a card from the 6 on.
  const from = Buffer.byteLength(s.prefix) + (s.value.startsWith('+') ? 1 : 0);
  const to = Buffer.byteLength(s.prefix) + Buffer.byteLength(s.value);
  return scan(s.prefix + s.value + s.suffix).find((f) => f.start <= from && f.end >= to);
}

export function alone(v: string): boolean {
  const f = scan(v);
  return f.length > 0 && f[0]!.start === 0 && f[0]!.end === Buffer.byteLength(v);
}

export function propertyHolds(runs: number, seed?: number): fc.RunDetails<[Sample]> {
  // A synchronous property: fc.check returns its details directly.
  return fc.check(fc.property(sample, (s) => alone(s.value) && covering(s) !== undefined), { numRuns: runs, ...(seed !== undefined && { seed }) }) as fc.RunDetails<[Sample]>;
}
