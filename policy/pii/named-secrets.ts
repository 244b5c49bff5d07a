// Credentials known by their context rather than their shape: a value after a credential key name
// (`api_key=…`, `password: …`, `"privateKey": "…"`) and the user:password part of a URL.
import { CREDENTIAL_NAMES, isCredentialKey, isPlaceholderValue, MAX_KEY_NAME } from './credential-names.js';

const SP = 32, TAB = 9, DQ = 34, SQ = 39, BSL = 92, EQ = 61, COLON = 58, SLASH = 47, AT = 64, LF = 10, CR = 13;
const MAX_VALUE = 4096;

const keyByte = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45 || c === 46;
const blank = (c: number | undefined) => c === SP || c === TAB;

export interface Span { start: number; end: number; next: number }

/** The last two letters of every credential name (`rd` of password, `ey` of apikey): a 26×26 table. */
const ENDINGS = new Uint8Array(26 * 26);
for (const name of CREDENTIAL_NAMES) ENDINGS[(name.charCodeAt(name.length - 2) - 97) * 26 + name.charCodeAt(name.length - 1) - 97] = 1;

const lower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);

/**
 * The normalized key name that ends just before the separator at `p` (skipping blanks and a closing
 * quote), or undefined. Every `:` and `=` of JSON and code comes here, so a table of name endings
 * turns most keys away before a string is built.
 */
function keyBefore(b: Uint8Array, p: number): string | undefined {
  let k = p - 1;
  for (let n = 0; n < 4 && blank(b[k]); n++) k--;
  if (b[k] === DQ || b[k] === SQ) { k--; if (b[k] === BSL) k--; }
  const e = k + 1;
  // The last two letters, `_ - .` skipped as normalization does (`API_KEY_` is odd but still a key).
  let q = e - 1;
  while (q >= 0 && (b[q] === 95 || b[q] === 45 || b[q] === 46)) q--;
  const z = lower(b[q] ?? 0) - 97, y = lower(b[q - 1] ?? 0) - 97;
  if (z < 0 || z > 25 || y < 0 || y > 25 || ENDINGS[y * 26 + z] === 0) return undefined;
  while (k >= 0 && e - k <= MAX_KEY_NAME + 1 && keyByte(b[k]!)) k--;
  const s = k + 1;
  // A name longer than we judge, or none at all.
  if (s === e || e - s > MAX_KEY_NAME) return undefined;
  let name = '';
  for (let r = s; r < e; r++) { const c = b[r]!; if (c !== 95 && c !== 45 && c !== 46) name += String.fromCharCode(lower(c)); }
  return name;
}

const SCHEMES = ['basic', 'bearer', 'digest', 'token', 'negotiate', 'apikey'];

function isScheme(b: Uint8Array, s: number, e: number): boolean {
  if (e - s > 9) return false;
  let w = '';
  for (let k = s; k < e; k++) w += String.fromCharCode(b[k]! | 0x20);
  return SCHEMES.includes(w);
}

/** Unquoted values end at blanks, line ends and the delimiters of query strings, JSON, YAML flow and markup. */
const endsUnquoted = (c: number) => c <= SP || c === 44 || c === 59 || c === 38 || c === DQ || c === SQ || c === 125 || c === 93 || c === 41 || c === 60 || c === 62;

/**
 * The value after the `=` or `:` at `p` when the key before it names a credential. `next` is where the
 * scan may go on; the caller keeps scanning inside the value, so a shape detector can still name it.
 */
export function namedValue(b: Uint8Array, p: number): Span | undefined {
  const sep = b[p];
  const after = b[p + 1];
  // `==`, `::` and `://` are comparisons, IPv6 and URLs, not assignments.
  if (after === sep || (sep === COLON && after === SLASH)) return undefined;
  const key = keyBefore(b, p);
  if (key === undefined || !isCredentialKey(key)) return undefined;
  let j = p + 1;
  for (let n = 0; n < 8 && blank(b[j]); n++) j++;
  let s: number, e: number;
  const q = b[j];
  const escaped = q === BSL && b[j + 1] === DQ;
  if (q === DQ || q === SQ || escaped) {
    // A quoted value runs to its closing quote (JSON escapes skipped), or to the line end when unclosed.
    s = j + (escaped ? 2 : 1);
    e = s;
    const lim = Math.min(b.length, s + MAX_VALUE);
    while (e < lim) {
      const c = b[e]!;
      if (c === LF || c === CR) break;
      if (escaped ? c === BSL && b[e + 1] === DQ : c === q) break;
      if (c === BSL && !escaped) e++;
      e++;
    }
    e = Math.min(e, lim);
  } else {
    if (q === 123 || q === 91) return undefined; // an object or array: its own keys are judged
    s = j;
    e = s;
    const lim = Math.min(b.length, s + MAX_VALUE);
    while (e < lim && !endsUnquoted(b[e]!)) {
      // `const token = next(b)` is code, not a credential: a call in an unquoted value.
      if (b[e] === 40) return undefined;
      e++;
    }
    // `Authorization: Basic dXNlcjpwYXNz`: the scheme alone is no secret, the word after it is.
    if (isScheme(b, s, e) && b[e] === SP && !endsUnquoted(b[e + 1] ?? 0)) {
      e++;
      while (e < lim && !endsUnquoted(b[e]!)) e++;
    }
  }
  if (isPlaceholderValue(b, s, e)) return undefined;
  return { start: s, end: e, next: p + 1 };
}

/** Bytes of an RFC 3986 userinfo (unreserved, pct-encoded, sub-delims, `:`), plus `@` for lenient parsers. */
const userinfoByte = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
  c === 45 || c === 46 || c === 95 || c === 126 || c === 37 || c === 33 || c === 36 || c === 38 || c === SQ ||
  c === 40 || c === 41 || c === 42 || c === 43 || c === 44 || c === 59 || c === EQ || c === COLON || c === AT;

/**
 * `scheme://user:password@host` with the `:` of `://` at `p` (also JSON's `:\/\/`): the userinfo when it
 * holds a password. Parsers differ on a raw `@` in the password, so the last `@` before the host wins.
 */
export function urlUserinfo(b: Uint8Array, p: number): Span | undefined {
  let s: number;
  if (b[p + 1] === SLASH && b[p + 2] === SLASH) s = p + 3;
  else if (b[p + 1] === BSL && b[p + 2] === SLASH && b[p + 3] === BSL && b[p + 4] === SLASH) s = p + 5;
  else return undefined;
  let lastAt = -1;
  let colon = -1;
  const lim = Math.min(b.length, s + 512);
  let j = s;
  while (j < lim && userinfoByte(b[j]!)) {
    if (b[j] === AT) lastAt = j;
    else if (b[j] === COLON && lastAt < 0 && colon < 0) colon = j;
    j++;
  }
  // `redis://:password@host` has no user name and is still a credential.
  if (lastAt <= s || colon < 0 || colon >= lastAt - 1) return undefined;
  return { start: s, end: lastAt, next: lastAt + 1 };
}
