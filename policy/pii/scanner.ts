// Single-pass PII and credential scanner over bytes: a class table drives the loop, detectors run only at
// word starts or on trigger bytes (`@`, `-`, `:`), every detector is bounded, and there are no regexes.
import { isIPv6 } from 'node:net';
import type { PiiKind } from '../types.js';
import { ibanValid } from './checksums.js';
import { namedValue, urlUserinfo } from './named-secrets.js';

export interface Finding {
  kind: PiiKind;
  /** Byte offsets into the scanned buffer. */
  start: number;
  end: number;
}

export interface ScanOptions {
  /** Tokens at least this long are checked for entropy (default 24). */
  entropyMinLength?: number;
  /** Shannon entropy in bits per character at or above which a mixed-case alphanumeric token is a secret (default 4.2). */
  entropyBits?: number;
  /** Stop after this many findings (default 1000). */
  maxFindings?: number;
}

const DIGIT = 1, UPPER = 2, LOWER = 4, ALNUM = 7, TOK = 8, HEX = 16, LOCAL = 32, B64 = 64;
const CLS = new Uint8Array(256);
for (let c = 48; c <= 57; c++) CLS[c] = DIGIT | TOK | HEX | LOCAL | B64;
for (let c = 65; c <= 90; c++) CLS[c] = UPPER | TOK | LOCAL | B64 | (c <= 70 ? HEX : 0);
for (let c = 97; c <= 122; c++) CLS[c] = LOWER | TOK | LOCAL | B64 | (c <= 102 ? HEX : 0);
for (const ch of '+/=_-') CLS[ch.charCodeAt(0)]! |= TOK;
for (const ch of '._%+-') CLS[ch.charCodeAt(0)]! |= LOCAL;
for (const ch of '-._~+/') CLS[ch.charCodeAt(0)]! |= B64;

const SP = 32, AT = 64, DASH = 45, DOT = 46, COLON = 58, PLUS = 43, LPAREN = 40, RPAREN = 41, EQ = 61, UNDERSCORE = 95;
const isDigit = (c: number | undefined) => c !== undefined && c >= 48 && c <= 57;
const cls = (c: number | undefined) => (c === undefined ? 0 : CLS[c]!);

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (ch) => ch.charCodeAt(0));
}
const BEGIN = ascii('-----BEGIN ');
const PRIVATE_KEY = ascii('PRIVATE KEY-----');
const END = ascii('-----END ');

function startsWith(b: Uint8Array, i: number, p: Uint8Array): boolean {
  if (i + p.length > b.length) return false;
  for (let k = 0; k < p.length; k++) if (b[i + k] !== p[k]) return false;
  return true;
}

function indexOf(b: Uint8Array, p: Uint8Array, from: number, to: number): number {
  const first = p[0]!;
  for (let i = from; i + p.length <= to; i++) if (b[i] === first && startsWith(b, i, p)) return i;
  return -1;
}

/** Length of the run from `i` of bytes whose class has `mask`, up to `max`. */
function run(b: Uint8Array, i: number, mask: number, max: number): number {
  let j = i;
  const lim = Math.min(b.length, i + max);
  while (j < lim && (CLS[b[j]!]! & mask)) j++;
  return j - i;
}

/** Like `run`, for an explicit byte predicate. */
function runOf(b: Uint8Array, i: number, ok: (c: number) => boolean, max: number): number {
  let j = i;
  const lim = Math.min(b.length, i + max);
  while (j < lim && ok(b[j]!)) j++;
  return j - i;
}

const TAB = 9, LF = 10, CR = 13, PCT = 37, NBSP_0 = 0xc2, NBSP_1 = 0xa0;
const MAX_GROUPS = 20;
/** Bytes one numeric run may span: a 19-digit card with separators of three `%20` or NBSP units each fits. */
const MAX_RUN = 192;

/** Width of one whitespace unit at `j`: space, tab, line ends, NBSP, and URL/form-encoded spaces (`+`, `%20`). */
function spaceWidth(b: Uint8Array, j: number): number {
  const c = b[j];
  if (c === SP || c === TAB || c === LF || c === CR || c === PLUS) return 1;
  if (c === NBSP_0 && b[j + 1] === NBSP_1) return 2;
  if (c === PCT && b[j + 1] === 50 && b[j + 2] === 48) return 3;
  return 0;
}

/** Width of the separator between two digit groups at `j` (0: none): `-`, `.`, `)` and up to three whitespace units. */
function sepWidth(b: Uint8Array, j: number): number {
  const c = b[j];
  if (c === DASH || c === DOT) return 1;
  if (c === RPAREN) return 1 + spaceWidth(b, j + 1);
  let w = 0;
  for (let u = 0; u < 3; u++) { const x = spaceWidth(b, j + w); if (x === 0) break; w += x; }
  return w;
}

/** The class of a separator by its first byte: every kind of whitespace counts as a space. */
const sepKind = (c: number) => (c === DASH || c === DOT || c === RPAREN ? c : SP);

/** Key-name and URL findings already covered by a finding with a shape of its own are dropped. */
function dropCovered(out: Finding[]): Finding[] {
  const byContext = (f: Finding) => f.kind === 'named_credential' || f.kind === 'url_credential';
  // Sorted by start, shape findings first on a tie: one sweep with the furthest end of shapes so far.
  out.sort((x, y) => x.start - y.start || Number(byContext(x)) - Number(byContext(y)));
  let reach = -1;
  return out.filter((f) => {
    if (!byContext(f)) { reach = Math.max(reach, f.end); return true; }
    return f.end > reach;
  });
}

const upperOrDigit = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
const keyChar = (c: number) => (CLS[c]! & ALNUM) !== 0 || c === DASH || c === UNDERSCORE;
const alnum = (c: number) => (CLS[c]! & ALNUM) !== 0;
const keyCharNoUnderscore = (c: number) => (CLS[c]! & ALNUM) !== 0 || c === DASH;
const isOneOf = (c: number | undefined, set: Uint8Array) => c !== undefined && set.includes(c);
const wordChar = (c: number) => (CLS[c]! & ALNUM) !== 0 || c === UNDERSCORE;

export class Scanner {
  private readonly minLen: number;
  private readonly bits: number;
  private readonly max: number;
  private readonly counts = new Int32Array(256);

  constructor(o: ScanOptions = {}) {
    this.minLen = o.entropyMinLength ?? 24;
    this.bits = o.entropyBits ?? 4.2;
    this.max = o.maxFindings ?? 1000;
  }

  scan(b: Uint8Array): Finding[] {
    const out: Finding[] = [];
    this.named = false;
    this.namedEnd = -1;
    this.runFrom = this.runEnd = -1;
    const n = b.length;
    const minLen = this.minLen;
    const max = this.max;
    let prevAlnum = false;
    let tokStart = -1;
    bytes: for (let i = 0; i < n; i++) {
      const c = b[i]!;
      const k = CLS[c]!;
      if (k & TOK) {
        if (tokStart < 0) tokStart = i;
      } else if (tokStart >= 0) {
        if (i - tokStart >= minLen) this.entropy(b, tokStart, i, out);
        tokStart = -1;
      }
      let end = -1;
      if (k & ALNUM) {
        if (!prevAlnum) {
          end = this.wordStart(b, i, c, k, out);
          if (end < 0) {
            // Only digit runs start inside an alphanumeric run (`ssn078-05-1120`): skip to its last byte,
            // stopping where a digit follows a letter (all of it is token too).
            end = this.gluedDigits(b, i, k, out);
            i = this.walked;
          }
        }
        prevAlnum = true;
      } else {
        prevAlnum = false;
        if (c === AT) end = this.email(b, i, out);
        else if (c === DASH && b[i + 1] === DASH) end = this.pem(b, i, out);
        else if (c === COLON || c === EQ) end = this.separator(b, i, c, out);
      }
      // A finding glued to more of its run (`…8833a001-01-0001`): the rest of the run is read the same way.
      while (end > i) {
        if (out.length >= max) break bytes;
        // A finding that ends where a digit run goes on (`ID86 5253 3620 9770 4929-0000-0000-6`, an IBAN
        // look-alike, then a card): a value may start at its last digit group and run past it.
        const more = this.runPast(b, end, out);
        if (more > end) { end = more; continue; }
        i = end - 1;
        prevAlnum = (CLS[b[i]!]! & ALNUM) !== 0;
        tokStart = -1;
        if (!prevAlnum || i + 1 >= n || !(CLS[b[i + 1]!]! & ALNUM)) break;
        end = this.gluedDigits(b, i, CLS[b[i]!]!, out);
        i = this.walked;
      }
    }
    if (tokStart >= 0 && n - tokStart >= minLen && out.length < max) this.entropy(b, tokStart, n, out);
    out.sort((x, y) => x.start - y.start);
    return this.named ? dropCovered(out) : out;
  }

  /**
   * After a finding ending at `end`: when a separator and a digit follow, reads the finding's last digit
   * group again as the start of a number; returns the end of what that found beyond `end`, else -1
   * (and keeps nothing it found inside the finding).
   */
  private runPast(b: Uint8Array, end: number, out: Finding[]): number {
    const w = sepWidth(b, end);
    if (w === 0 || !isDigit(b[end + w]) || !isDigit(b[end - 1])) return -1;
    let g = end - 1;
    while (g > 0 && isDigit(b[g - 1])) g--;
    const had = out.length;
    const e = this.numeric(b, g, out, g > 0 && (CLS[b[g - 1]!]! & ALNUM) !== 0);
    if (e > end) return e;
    out.length = had;
    return -1;
  }

  /** Where `gluedDigits` stopped (the last byte it read). */
  private walked = 0;

  /**
   * Walks an alphanumeric run from `i` (class `k`) to its last byte, trying a number wherever a digit
   * follows a letter; returns that finding's end (`walked` is where it stopped), or -1 at the run's end.
   */
  private gluedDigits(b: Uint8Array, i: number, k: number, out: Finding[]): number {
    let was = k;
    let end = -1;
    while (i + 1 < b.length) {
      const k2 = CLS[b[i + 1]!]!;
      if (!(k2 & ALNUM)) break;
      i++;
      if ((k2 & DIGIT) && !(was & DIGIT) && (end = this.numeric(b, i, out, true)) > 0) break;
      was = k2;
    }
    this.walked = i;
    return end;
  }

  /** Whether this scan found a credential by its key name (then `dropCovered` runs). */
  private named = false;
  private namedEnd = -1;
  /** The digit run last examined without a finding: re-entering it at a later group checks only new windows. */
  private runFrom = -1;
  private runEnd = -1;

  /** At `:` or `=`: IPv6 (`::1`), URL userinfo (`://user:pass@`), or the value of a credential key. */
  private separator(b: Uint8Array, i: number, c: number, out: Finding[]): number {
    if (c === COLON) {
      if (b[i + 1] === COLON && !(cls(b[i - 1]) & HEX)) return this.ipv6(b, i, out);
      const u = urlUserinfo(b, i);
      if (u) { this.named = true; this.push(out, 'url_credential', u.start, u.end); return u.next; }
    }
    // Inside a value already found (`password=a=b`) there is nothing more to find by name.
    if (i < this.namedEnd) return -1;
    const v = namedValue(b, i);
    // No skip: the value is scanned on, so a token with a shape of its own keeps its precise kind.
    if (v) { this.named = true; this.namedEnd = v.end; this.push(out, 'named_credential', v.start, v.end); }
    return -1;
  }

  /** Detectors that begin at the first byte of an alphanumeric run. Returns the end of a finding, or -1. */
  private wordStart(b: Uint8Array, i: number, c: number, k: number, out: Finding[]): number {
    // `%20` or `%3A` right before a number (URL- or form-encoded text): the number starts after the escape.
    if (b[i - 1] === PCT && (k & HEX) && (cls(b[i + 1]) & HEX) && isDigit(b[i + 2])) {
      const e = this.numeric(b, i + 2, out, false);
      if (e > 0) return e;
    }
    if (k & DIGIT) {
      const e = this.numeric(b, i, out, false);
      if (e > 0) return e;
      return this.maybeIpv6(b, i, out);
    }
    switch (c) {
      case 65: { // A: AWS access key ids, Google API keys
        if ((b[i + 1] === 75 && b[i + 2] === 73 && b[i + 3] === 65) || (b[i + 1] === 83 && b[i + 2] === 73 && b[i + 3] === 65)) {
          const l = runOf(b, i + 4, upperOrDigit, 17);
          if (l === 16 && !alnum(b[i + 20] ?? 0)) return this.push(out, 'aws_key', i, i + 20);
        }
        if (b[i + 1] === 73 && b[i + 2] === 122 && b[i + 3] === 97) {
          const l = runOf(b, i + 4, keyChar, 36);
          if (l === 35) return this.push(out, 'google_api_key', i, i + 39);
        }
        break;
      }
      case 66: case 98: return this.bearer(b, i, out);
      case 103: { // g: GitHub tokens
        if (b[i + 1] === 104 && b[i + 3] === UNDERSCORE && isOneOf(b[i + 2], POUSR)) {
          const l = runOf(b, i + 4, alnum, 256);
          if (l >= 36) return this.push(out, 'github_token', i, i + 4 + l);
        }
        if (startsWith(b, i, GITHUB_PAT)) {
          const l = runOf(b, i + GITHUB_PAT.length, wordChar, 256);
          if (l >= 22) return this.push(out, 'github_token', i, i + GITHUB_PAT.length + l);
        }
        break;
      }
      case 115: case 114: { // s, r: OpenAI sk-…, Stripe sk_live_/sk_test_/rk_live_
        if (c === 115 && b[i + 1] === 107 && b[i + 2] === DASH) {
          const l = runOf(b, i + 3, keyChar, 256);
          if (l >= 20) return this.push(out, 'openai_key', i, i + 3 + l);
        }
        if (b[i + 1] === 107 && b[i + 2] === UNDERSCORE && (startsWith(b, i + 3, LIVE) || startsWith(b, i + 3, TEST))) {
          const l = runOf(b, i + 8, alnum, 256);
          if (l >= 16) return this.push(out, 'stripe_key', i, i + 8 + l);
        }
        break;
      }
      case 120: { // x: Slack xoxb-/xoxp-/xoxa-/xoxo-/xoxs-/xoxr-
        if (b[i + 1] === 111 && b[i + 2] === 120 && isOneOf(b[i + 3], ABPOSR) && b[i + 4] === DASH) {
          const l = runOf(b, i + 5, keyCharNoUnderscore, 256);
          if (l >= 10) return this.push(out, 'slack_token', i, i + 5 + l);
        }
        break;
      }
    }
    if ((k & UPPER) && (cls(b[i + 1]) & UPPER) && isDigit(b[i + 2]) && isDigit(b[i + 3])) {
      const e = this.iban(b, i, out);
      if (e > 0) return e;
    }
    if (k & HEX) return this.maybeIpv6(b, i, out);
    return -1;
  }

  private push(out: Finding[], kind: PiiKind, start: number, end: number): number {
    out.push({ kind, start, end });
    return end;
  }

  /** Digit groups of the run at hand: where each starts, its length, and the separator after it. */
  private readonly gStart = new Int32Array(MAX_GROUPS);
  private readonly gLen = new Int32Array(MAX_GROUPS);
  private readonly seps = new Int32Array(MAX_GROUPS);

  /** `sameTo[q]`: the last group r such that the separators after groups q..r-1 all equal the one after q. */
  private readonly sameTo = new Int32Array(MAX_GROUPS);
  /** `before[q]`: digits in groups 0..q-1. */
  private readonly before = new Int32Array(MAX_GROUPS + 1);

  /** Whether every separator inside groups s..e equals `sep` (O(1) on the tables `numeric` fills). */
  private allSep(s: number, e: number, sep: number): boolean {
    return s === e || (this.seps[s] === sep && this.sameTo[s]! >= e);
  }

  private phoneSeps(s: number, e: number): boolean {
    for (let q = s; q < e; q++) { const x = this.seps[q]; if (x !== SP && x !== DASH && x !== DOT && x !== RPAREN) return false; }
    return true;
  }

  /**
   * Digit runs: IPv4, SSN (ddd-dd-dddd), card numbers (Luhn), phone numbers. The run is cut into digit groups
   * at separators; every window of whole groups is a candidate, and from each first group the longest valid
   * window is a finding, so digits or text before or after a value never hide it. `glued`: a letter
   * comes right before `i`. Returns the end of the last finding, or -1.
   */
  private numeric(b: Uint8Array, i: number, out: Finding[], glued: boolean): number {
    const gStart = this.gStart, gLen = this.gLen, seps = this.seps;
    let g = 0;
    let digits = 0;
    let dot = false;
    let plus = b[i - 1] === PLUS;
    let j = i;
    const lim = Math.min(b.length, i + MAX_RUN);
    gStart[0] = i;
    for (;;) {
      while (j < lim && isDigit(b[j])) j++;
      gLen[g] = j - gStart[g]!;
      digits += gLen[g]!;
      g++;
      if (g === MAX_GROUPS || j >= lim) break;
      const w = sepWidth(b, j);
      if (w === 0 || !isDigit(b[j + w])) break;
      const kind = sepKind(b[j]!);
      seps[g - 1] = kind;
      if (kind === DOT) dot = true;
      if (b[j + w - 1] === PLUS) plus = true;
      j += w;
      gStart[g] = j;
    }
    // What any window could be: SSN 9 digits, NANP 10, card 13; a `+` phone 8; IPv4 four dotted groups.
    // Dates, times and most numbers in text leave here.
    if (digits < 9 && !(g >= 4 && dot) && !(digits === 8 && plus)) return -1;
    const fraction = b[i - 1] === DOT && isDigit(b[i - 2]);
    if (g === 1 && fraction) return -1;
    const sameTo = this.sameTo, before = this.before;
    sameTo[g - 1] = g - 1;
    for (let q = g - 2; q >= 0; q--) sameTo[q] = q + 1 < g - 1 && seps[q + 1] === seps[q] ? sameTo[q + 1]! : q + 1;
    before[0] = 0;
    for (let q = 0; q < g; q++) before[q + 1] = before[q]! + gLen[q]!;
    const gluedEnd = j < b.length && (CLS[b[j]!]! & ALNUM) !== 0;
    // (`fraction`: a digit run right after `<digit>.` is a decimal fraction or the tail of a version, not an identifier.)
    // Entered again at a later group of a run that had no finding (the outer loop does that): the windows
    // that end inside that run were all examined then, in the same context, so only longer ones are new.
    // `+` and `(` before the first group change what it may be, so they get a full look.
    const seen = i > this.runFrom && i < this.runEnd && b[i - 1] !== PLUS && b[i - 1] !== LPAREN ? this.runEnd : -1;
    let last = -1;
    for (let s = 0; s < g; s++) {
      const afterDot = s === 0 ? fraction : seps[s - 1] === DOT;
      for (let e = g - 1; e >= s; e--) {
        if (gStart[e]! + gLen[e]! <= seen) break;
        // A lone group glued to letters is part of a word (hex digests); after a dot it is a fraction.
        if (e === s && ((s === 0 && glued) || (e === g - 1 && gluedEnd) || afterDot)) continue;
        const end = this.window(b, s, e, out);
        if (end > 0) {
          // A window inside one already found adds nothing (`+1 415 555 2671` holds `415 555 2671`).
          if (end <= last) out.pop(); else last = end;
          break;
        }
      }
      if (out.length >= this.max) break;
    }
    if (last < 0) { this.runFrom = i; this.runEnd = j; }
    return last;
  }

  /** Whether groups s..e form a value; pushes it and returns its end, or -1. */
  private window(b: Uint8Array, s: number, e: number, out: Finding[]): number {
    const gStart = this.gStart, gLen = this.gLen;
    const n = e - s + 1;
    // Only a card spans more than six groups (`4 1 1 1 …`), and it has at most 19 digits.
    if (n > 6 && this.before[e + 1]! - this.before[s]! > 19) return -1;
    const from = gStart[s]!;
    const to = gStart[e]! + gLen[e]!;
    if (n === 4 && this.allSep(s, e, DOT)) {
      for (let q = s; q <= e; q++) {
        const len = gLen[q]!, p = gStart[q]!;
        let v = 0;
        for (let r = 0; r < len; r++) v = v * 10 + (b[p + r]! - 48);
        if (len > 3 || v > 255 || (len > 1 && b[p] === 48)) return -1;
      }
      return this.push(out, 'ipv4', from, to);
    }
    if (n === 3 && gLen[s] === 3 && gLen[s + 1] === 2 && gLen[e] === 4 && (this.allSep(s, e, DASH) || this.allSep(s, e, SP))) {
      const a = from, m = gStart[s + 1]!, z = gStart[e]!;
      const area = (b[a]! - 48) * 100 + (b[a + 1]! - 48) * 10 + (b[a + 2]! - 48);
      const grp = (b[m]! - 48) * 10 + (b[m + 1]! - 48);
      const serial = b[z] === 48 && b[z + 1] === 48 && b[z + 2] === 48 && b[z + 3] === 48;
      if (area !== 0 && area !== 666 && area < 900 && grp !== 0 && !serial) return this.push(out, 'ssn', from, to);
      return -1;
    }
    const digits = this.before[e + 1]! - this.before[s]!;
    const first = b[from]! - 48;
    if (digits >= 13 && digits <= 19 && first >= 2 && first <= 6 && (n === 1 || this.allSep(s, e, SP) || this.allSep(s, e, DASH)) && this.luhn(b, s, e)) {
      return this.push(out, 'card', from, to);
    }
    // `+44 20 7946 0958`; a `+` between two numbers (`10+20`) is arithmetic.
    if (b[from - 1] === PLUS && !isDigit(b[from - 2]) && digits >= 8 && digits <= 15 && n <= 6 && (n === 1 || !this.allSep(s, e, DOT))) return this.push(out, 'phone', from - 1, to);
    // NANP (+1) numbers: area code and exchange start with 2–9, so "100 200 3000" in a table is no phone.
    if (n === 3 && gLen[s] === 3 && gLen[s + 1] === 3 && gLen[e] === 4 && this.phoneSeps(s, e) && b[from]! >= 50 && b[gStart[s + 1]!]! >= 50) {
      return this.push(out, 'phone', s === 0 && b[from - 1] === LPAREN ? from - 1 : from, to);
    }
    if (n === 4 && gLen[s] === 1 && b[from] === 49 && gLen[s + 1] === 3 && gLen[s + 2] === 3 && gLen[e] === 4 && this.phoneSeps(s, e) &&
      b[gStart[s + 1]!]! >= 50 && b[gStart[s + 2]!]! >= 50) {
      return this.push(out, 'phone', from, to);
    }
    return -1;
  }

  /** Luhn over the digits of groups s..e only: separators such as `%20` hold digits of their own. */
  private luhn(b: Uint8Array, s: number, e: number): boolean {
    let sum = 0;
    let double = false;
    for (let q = e; q >= s; q--) {
      const p = this.gStart[q]!;
      for (let k = p + this.gLen[q]! - 1; k >= p; k--) {
        let d = b[k]! - 48;
        if (double) { d *= 2; if (d > 9) d -= 9; }
        sum += d;
        double = !double;
      }
    }
    return sum % 10 === 0;
  }

  /** IBAN: two letters, two check digits, then up to 30 letters/digits, optionally in groups of four. */
  private iban(b: Uint8Array, i: number, out: Finding[]): number {
    const chars: number[] = [];
    let j = i;
    const lim = Math.min(b.length, i + 44);
    while (j < lim && chars.length < 34) {
      const c = b[j]!;
      if (upperOrDigit(c)) { chars.push(c); j++; continue; }
      if (c === SP && chars.length % 4 === 0 && upperOrDigit(b[j + 1] ?? 0)) { j++; continue; }
      break;
    }
    if (alnum(b[j] ?? 0)) return -1;
    return ibanValid(chars) ? this.push(out, 'iban', i, j) : -1;
  }

  /** `Bearer <token>` (any case), the token at least 16 characters of RFC 6750 b64token. */
  private bearer(b: Uint8Array, i: number, out: Finding[]): number {
    for (let k = 0; k < 6; k++) if (((b[i + k] ?? 0) | 0x20) !== BEARER[k]) return -1;
    let j = i + 6;
    if (b[j] !== SP) return -1;
    while (b[j] === SP) j++;
    const l = run(b, j, B64, 4096);
    let e = j + l;
    while (b[e] === EQ) e++;
    return l >= 16 ? this.push(out, 'bearer_token', i, e) : -1;
  }

  /** An email address around the `@` at `at`: bounded scans back over the local part and forward over the domain. */
  private email(b: Uint8Array, at: number, out: Finding[]): number {
    let s = at;
    while (s > 0 && at - s < 64 && (CLS[b[s - 1]!]! & LOCAL)) s--;
    while (s < at && b[s] === DOT) s++;
    if (s === at) return -1;
    let j = at + 1;
    let dots = 0;
    let labelLen = 0;
    let lastLabelAlpha = true;
    const lim = Math.min(b.length, at + 254);
    while (j < lim) {
      const c = b[j]!;
      if (alnum(c) || c === DASH) { labelLen++; if (!(CLS[c]! & (UPPER | LOWER))) lastLabelAlpha = false; j++; continue; }
      if (c === DOT && labelLen > 0 && alnum(b[j + 1] ?? 0)) { dots++; labelLen = 0; lastLabelAlpha = true; j++; continue; }
      break;
    }
    if (dots === 0 || labelLen < 2 || !lastLabelAlpha) return -1;
    return this.push(out, 'email', s, j);
  }

  /** PEM private keys: `-----BEGIN … PRIVATE KEY-----` through the matching END line (or the header alone). */
  private pem(b: Uint8Array, i: number, out: Finding[]): number {
    if (!startsWith(b, i, BEGIN)) return -1;
    const hdr = indexOf(b, PRIVATE_KEY, i + BEGIN.length, Math.min(b.length, i + 80));
    if (hdr < 0) return -1;
    let e = hdr + PRIVATE_KEY.length;
    const endAt = indexOf(b, END, e, Math.min(b.length, e + 65536));
    if (endAt >= 0) {
      const close = indexOf(b, FIVE_DASH, endAt + END.length, Math.min(b.length, endAt + 80));
      e = close >= 0 ? close + 5 : endAt + END.length;
    }
    return this.push(out, 'private_key', i, e);
  }

  /** An IPv6 candidate starting at `i` (a hex word or `::`), at least two colons, validated by node:net. */
  private maybeIpv6(b: Uint8Array, i: number, out: Finding[]): number {
    // Cheap gate: a hex group of at most four digits must be followed by ':'.
    let h = i;
    while (h < i + 5 && h < b.length && (CLS[b[h]!]! & HEX)) h++;
    if (h - i > 4 || b[h] !== COLON) return -1;
    return this.ipv6(b, i, out);
  }

  private ipv6(b: Uint8Array, i: number, out: Finding[]): number {
    let j = i;
    let colons = 0;
    const lim = Math.min(b.length, i + 45);
    while (j < lim) {
      const c = b[j]!;
      if (c === COLON) colons++;
      else if (!(CLS[c]! & HEX) && c !== DOT) break;
      j++;
    }
    while (j > i && b[j - 1] === DOT) j--;
    if (colons < 2 || alnum(b[j] ?? 0)) return -1;
    let s = '';
    for (let k = i; k < j; k++) s += String.fromCharCode(b[k]!);
    if (!isIPv6(s)) return -1;
    this.push(out, 'ipv6', i, j);
    // A last group of decimal digits may open a number of its own (`::4111 1111 1111 1111`): scan it again.
    let t = j;
    while (t > i && isDigit(b[t - 1])) t--;
    return b[t - 1] === COLON && t < j ? t : j;
  }

  /** High-entropy tokens: mixed upper, lower and digits, entropy at or above the threshold. */
  private entropy(b: Uint8Array, s: number, e: number, out: Finding[]): void {
    const len = Math.min(e - s, 4096);
    let mask = 0;
    const counts = this.counts;
    for (let i = s; i < s + len; i++) { const c = b[i]!; mask |= CLS[c]!; counts[c]!++; }
    if ((mask & ALNUM) !== ALNUM) { for (let i = s; i < s + len; i++) counts[b[i]!] = 0; return; }
    let sum = 0;
    for (let i = s; i < s + len; i++) {
      const c = b[i]!;
      const n = counts[c]!;
      if (n > 0) { sum += n * Math.log2(n); counts[c] = 0; }
    }
    const h = Math.log2(len) - sum / len;
    if (h >= this.bits) out.push({ kind: 'high_entropy', start: s, end: e });
  }
}

const GITHUB_PAT = ascii('github_pat_');
const POUSR = ascii('pousr');
const ABPOSR = ascii('abposr');
const LIVE = ascii('live_');
const TEST = ascii('test_');
const BEARER = ascii('bearer');
const FIVE_DASH = ascii('-----');

const defaultScanner = new Scanner();

/** Scans bytes or a string (as UTF-8) with default or given options. */
export function scan(input: Uint8Array | string, o?: ScanOptions): Finding[] {
  const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  return (o ? new Scanner(o) : defaultScanner).scan(b);
}
