// CLIP's byte-level BPE tokenizer (vocab.json + merges.txt), for the text encoders of Stable Diffusion.
// Normalisation follows CLIPTokenizerFast: NFC, whitespace runs to one space, lowercase; then CLIP's split regex,
// UTF-8 bytes mapped to printable characters (GPT-2's bytes_to_unicode), and BPE with `</w>` word ends.
import { ErrorCode, SecaiError } from '../../common/errors.js';

export interface ClipTokenizer {
  /** Exactly maxLength ids: bos, the tokens (truncated to maxLength - 2), eos, then pad. Never throws on text. */
  encode(text: string): Int32Array;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly maxLength: number;
}

export interface ClipTokenizerFiles {
  vocabJson: string;
  mergesTxt: string;
  tokenizerConfigJson?: string;
}

export const MAX_FILE_CHARS = 64 * 1024 * 1024;
export const MAX_VOCAB = 1_000_000;
/** HF's CLIPTokenizer reads at most 49152 - 256 - 2 merges (CLIP's vocabulary size less bytes and specials). */
export const MAX_MERGES = 49152 - 256 - 2;
export const MAX_MAX_LENGTH = 4096;
/** BPE is quadratic in a word's length: longer runs (a wall of "!!!!") are cut into pieces of this many bytes. */
export const MAX_WORD = 1024;

const SOT = '<|startoftext|>';
const EOT = '<|endoftext|>';
const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;
const CACHE_LIMIT = 10_000;

const bad = (file: string, msg: string) => new SecaiError(ErrorCode.MODEL_INVALID, `${file}: ${msg}`);

/** GPT-2's reversible byte → character map: printable bytes stand for themselves, the rest map above U+0100. */
export function bytesToUnicode(): string[] {
  const map: string[] = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return map;
}
const BYTE_CHARS = bytesToUnicode();

function parseJsonObject(text: string, file: string): Record<string, unknown> {
  if (typeof text !== 'string') throw bad(file, 'not text');
  if (text.length > MAX_FILE_CHARS) throw bad(file, `larger than ${MAX_FILE_CHARS} characters`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new SecaiError(ErrorCode.MODEL_INVALID, `${file}: not valid JSON`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, 'not a JSON object');
  return v as Record<string, unknown>;
}

/** vocab.json: symbol → id. `maxEntries` is a parameter only so a test need not build a million entries. */
export function parseVocab(text: string, maxEntries = MAX_VOCAB): Map<string, number> {
  const o = parseJsonObject(text, 'vocab.json');
  const keys = Object.keys(o);
  if (keys.length === 0) throw bad('vocab.json', 'empty');
  if (keys.length > maxEntries) throw bad('vocab.json', `more than ${maxEntries} entries`);
  const vocab = new Map<string, number>();
  for (const k of keys) {
    const id = o[k];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
      throw bad('vocab.json', `the id of ${JSON.stringify(k.slice(0, 40))} is not a non-negative 32-bit integer`);
    }
    vocab.set(k, id);
  }
  return vocab;
}

/** merges.txt: an optional `#version` line, then one `left right` pair per line; rank = line order. */
function parseMerges(text: string): Map<string, number> {
  if (typeof text !== 'string') throw bad('merges.txt', 'not text');
  if (text.length > MAX_FILE_CHARS) throw bad('merges.txt', `larger than ${MAX_FILE_CHARS} characters`);
  const body = text.trimEnd(); // not /\s+$/: that is quadratic on a long run of spaces
  const lines = body === '' ? [] : body.split(/\r?\n/);
  const header = lines[0]?.startsWith('#version') ? 1 : 0;
  if (header) lines.shift();
  if (lines.length > MAX_VOCAB) throw bad('merges.txt', `more than ${MAX_VOCAB} lines`);
  const ranks = new Map<string, number>();
  for (let i = 0; i < Math.min(lines.length, MAX_MERGES); i++) {
    const parts = lines[i]!.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw bad('merges.txt', `line ${i + 1 + header} is not two symbols separated by one space: ${JSON.stringify(lines[i]!.slice(0, 40))}`);
    }
    // A repeated pair keeps its last rank, as HF's dict(zip(merges, range(...))) does.
    ranks.set(`${parts[0]} ${parts[1]}`, i);
  }
  return ranks;
}

/** A special token of tokenizer_config.json: a string, or an AddedToken object `{ content }`. */
function tokenText(config: Record<string, unknown>, key: string, fallback: string): string {
  const v = config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && !Array.isArray(v) && typeof (v as Record<string, unknown>)['content'] === 'string') {
    return (v as Record<string, string>)['content']!;
  }
  throw bad('tokenizer_config.json', `${key} must be a string or { content }`);
}

/** model_max_length: a sane integer, or HF's "no limit" sentinel (about 1e30), which means CLIP's 77. */
function configMaxLength(config: Record<string, unknown>): number {
  const v = config['model_max_length'];
  if (v === undefined || v === null) return 77;
  if (typeof v === 'number' && v >= 1e29) return 77;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 2 || v > MAX_MAX_LENGTH) {
    throw bad('tokenizer_config.json', `model_max_length must be an integer from 2 to ${MAX_MAX_LENGTH}`);
  }
  return v;
}

export function createClipTokenizer(files: ClipTokenizerFiles, maxLength?: number): ClipTokenizer {
  const vocab = parseVocab(files.vocabJson);
  const ranks = parseMerges(files.mergesTxt);
  const config = files.tokenizerConfigJson === undefined ? {} : parseJsonObject(files.tokenizerConfigJson, 'tokenizer_config.json');
  const length = maxLength ?? configMaxLength(config);
  if (!Number.isInteger(length) || length < 2 || length > MAX_MAX_LENGTH) {
    throw new SecaiError(ErrorCode.SCHEMA, `maxLength must be an integer from 2 to ${MAX_MAX_LENGTH}, got ${String(length)}`);
  }
  const idOf = (key: string, fallback: string) => {
    const text = tokenText(config, key, fallback);
    const id = vocab.get(text);
    if (id === undefined) throw bad('vocab.json', `${key} ${JSON.stringify(text.slice(0, 40))} is not in the vocabulary`);
    return id;
  };
  const bosId = idOf('bos_token', SOT);
  const eosId = idOf('eos_token', EOT);
  const padId = idOf('pad_token', EOT);
  const unkId = idOf('unk_token', EOT);

  const cache = new Map<string, number[]>();

  /** One word's ids: BPE over its byte characters, lowest merge rank first, then vocabulary lookups. */
  const wordIds = (chars: string, last: boolean): number[] => {
    const key = last ? `${chars}\u0000` : chars;
    const hit = cache.get(key);
    if (hit) return hit;
    let word = Array.from(chars);
    if (last) word[word.length - 1] += '</w>';
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best]!;
      const second = word[best + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && word[i + 1] === second && i < word.length - 1) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]!);
        }
      }
      word = merged;
    }
    const ids: number[] = [];
    for (const symbol of word) {
      const id = vocab.get(symbol);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // A symbol the vocabulary lacks (a small or odd vocab): its characters one by one, then unk.
      const pieces = Array.from(symbol.endsWith('</w>') ? symbol.slice(0, -4) : symbol);
      pieces.forEach((ch, i) => {
        const withEnd = symbol.endsWith('</w>') && i === pieces.length - 1 ? `${ch}</w>` : ch;
        ids.push(vocab.get(withEnd) ?? vocab.get(ch) ?? unkId);
      });
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, ids);
    return ids;
  };

  const encoder = new TextEncoder();
  return Object.freeze({
    bosId,
    eosId,
    padId,
    maxLength: length,
    encode(text: string): Int32Array {
      const room = length - 2;
      const tokens: number[] = [];
      const clean = String(text).normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase();
      for (const m of clean.matchAll(PATTERN)) {
        if (tokens.length >= room) break;
        const piece = m[0];
        if (piece === SOT || piece === EOT) {
          tokens.push(vocab.get(piece) ?? unkId);
          continue;
        }
        let chars = '';
        for (const b of encoder.encode(piece)) chars += BYTE_CHARS[b];
        for (let at = 0; at < chars.length && tokens.length < room; at += MAX_WORD) {
          const end = at + MAX_WORD >= chars.length;
          tokens.push(...wordIds(chars.slice(at, at + MAX_WORD), end));
        }
      }
      const out = new Int32Array(length).fill(padId);
      out[0] = bosId;
      const n = Math.min(tokens.length, room);
      for (let i = 0; i < n; i++) out[i + 1] = tokens[i]!;
      out[n + 1] = eosId;
      return out;
    },
  });
}
