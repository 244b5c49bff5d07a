// Which key names mark their value as a credential (`password=`, `"privateKey":`, `X-Api-Key:`), shared by the scanner and redaction.

/** A normalized name (lower case, `_ - .` dropped) ending in one of these names a credential. */
const SUFFIXES = [
  'password', 'passwd', 'passphrase', 'secret', 'token', 'apikey', 'accesskey', 'privatekey', 'secretkey',
  'signingkey', 'authorization', 'credential', 'credentials',
] as const;
/** Names too short to be safe as suffixes ("bypass", "author"), credentials only on their own. */
const EXACT: ReadonlySet<string> = new Set(['pass', 'pwd', 'pw', 'auth', 'sessionid']);
/** Tokenizer vocabulary entries (`bos_token: "<s>"` in every model config) are not secrets. */
const NOT_CREDENTIAL: ReadonlySet<string> = new Set(
  ['bos', 'eos', 'pad', 'unk', 'sep', 'cls', 'mask', 'start', 'end', 'eot', 'additionalspecial', 'special'].map((p) => `${p}token`),
);

export const MAX_KEY_NAME = 64;

/** Every name that can match (suffixes and exact names), for the scanner's quick gate on name endings. */
export const CREDENTIAL_NAMES: readonly string[] = [...SUFFIXES, ...EXACT];

/** `privateKey` → `privatekey`, `api-token` → `apitoken`; undefined for names we never judge (too long, odd bytes). */
export function normalizeKeyName(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_KEY_NAME) return undefined;
  let out = '';
  for (let k = 0; k < name.length; k++) {
    const c = name.charCodeAt(k);
    if (c >= 65 && c <= 90) out += String.fromCharCode(c + 32);
    else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) out += name[k];
    else if (c !== 95 && c !== 45 && c !== 46) return undefined;
  }
  return out;
}

/** Whether a key of this (normalized) name holds a credential. */
export function isCredentialKey(normalized: string): boolean {
  if (EXACT.has(normalized)) return true;
  if (NOT_CREDENTIAL.has(normalized)) return false;
  for (const s of SUFFIXES) if (normalized.endsWith(s)) return true;
  return false;
}

/** Whether an object key or header name (raw) names a credential. */
export function isCredentialName(name: string): boolean {
  const n = normalizeKeyName(name);
  return n !== undefined && isCredentialKey(n);
}

/** Values that name no secret: empty, literals, placeholders such as `****`, short numbers (`max_token: 512`). */
export function isPlaceholderValue(b: Uint8Array, s: number, e: number): boolean {
  const len = e - s;
  if (len < 3) return true;
  let same = true;
  let digits = true;
  for (let k = s; k < e && (same || digits); k++) {
    const c = b[k]!;
    if (c !== b[s]) same = false;
    if (c < 48 || c > 57) digits = false;
  }
  if (same || (digits && len < 6)) return true;
  if (len <= 9) {
    let w = '';
    for (let k = s; k < e; k++) w += String.fromCharCode(b[k]! | 0x20);
    if (w === 'null' || w === 'true' || w === 'false' || w === 'none' || w === 'undefined') return true;
  }
  return false;
}
