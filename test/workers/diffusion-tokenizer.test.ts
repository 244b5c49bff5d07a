// CLIP tokenizer on a tiny vocabulary written here: normalisation, CLIP's split regex, </w> word ends, merge ranks,
// byte-level characters, special tokens, truncation and padding; malformed vocab, merges and config refused.
import t, { type Test } from 'tap';
import { ErrorCode, type SecaiError } from '../../common/errors.js';
import { bytesToUnicode, createClipTokenizer, MAX_FILE_CHARS, MAX_VOCAB, parseVocab } from '../../workers/diffusion/clip-tokenizer.js';

const BOS = 49406;
const EOS = 49407;
/** Printable ASCII as itself (id = code) and as a word end (id = code + 1000), a few merged symbols, two specials. */
function vocab(extra: Record<string, number> = {}): Record<string, number> {
  const v: Record<string, number> = { '<|startoftext|>': BOS, '<|endoftext|>': EOS, ...extra };
  for (let c = 0x21; c <= 0x7e; c++) {
    v[String.fromCharCode(c)] = c;
    v[`${String.fromCharCode(c)}</w>`] = c + 1000;
  }
  return v;
}
const MERGED = { ll: 2000, he: 2001, hell: 2002, 'hello</w>': 2003, el: 2004, 'Ã': 3000, '©</w>': 3001 };
const MERGES = ['#version: 0.2', 'l l', 'h e', 'he ll', 'hell o</w>'].join('\n') + '\n';
const tok = (merges = MERGES, config?: object, maxLength?: number) =>
  createClipTokenizer({ vocabJson: JSON.stringify(vocab(MERGED)), mergesTxt: merges, ...(config ? { tokenizerConfigJson: JSON.stringify(config) } : {}) }, maxLength);
/** A tokenizer padding with '!' (33), so that content, eos and padding can be told apart. */
const tokP = (merges = MERGES) => tok(merges, { pad_token: '!' });
/** The content ids of an encoding: after bos, up to the eos before the '!' padding. */
const content = (ids: Int32Array) => {
  const a = Array.from(ids);
  let end = a.length;
  while (end > 0 && a[end - 1] === 33) end--;
  return a.slice(1, end - 1);
};
const refused = (t: Test, f: () => unknown, what: string, message: RegExp, code: string = ErrorCode.MODEL_INVALID) => {
  try {
    f();
    t.fail(`${what}: accepted`);
  } catch (err) {
    t.equal((err as SecaiError).code, code, `${what}: ${code}`);
    t.match((err as Error).message, message, `${what}: says why`);
  }
};

t.test('clip tokenizer — bos, tokens, eos, then padding to maxLength', async (t) => {
  const k = tok();
  t.match(k, { bosId: BOS, eosId: EOS, padId: EOS, maxLength: 77 }, 'defaults: CLIP specials, pad = eos, 77');
  const ids = k.encode('hello');
  t.equal(ids.length, 77);
  t.ok(ids instanceof Int32Array);
  t.same(Array.from(ids.slice(0, 3)), [BOS, 2003, EOS], 'hello → one merged token');
  t.ok(ids.slice(3).every((v) => v === EOS), 'padded with the pad id');
  t.same(Array.from(k.encode('')).slice(0, 2), [BOS, EOS], 'empty text: bos, eos');
  t.same(k.encode('hello'), ids, 'deterministic (and the cache changes nothing)');
});

t.test('clip tokenizer — lowercase, whitespace runs and NFC as CLIPTokenizerFast', async (t) => {
  const k = tokP();
  t.same(content(k.encode('  HELLO \n\t hello  ')), [2003, 2003]);
  t.same(content(k.encode('Cafe\u0301')), content(k.encode('caf\u00e9')), 'NFC: a combining accent equals the precomposed letter');
});

t.test("clip tokenizer — CLIP's split: contractions, single digits, punctuation runs, </w> on each word's end", async (t) => {
  const k = tokP();
  t.same(content(k.encode("it's")), [105, 1116, 39, 1115], "it's → i t</w> ' s</w>");
  t.same(content(k.encode('42')), [1052, 1050], 'each digit is a word');
  t.same(content(k.encode('!!?')), [33, 33, 1063], 'a punctuation run is one word');
  t.same(content(k.encode('ab,cd')), [97, 1098, 1044, 99, 1100], 'letters and punctuation split');
  t.same(content(k.encode('x<|endoftext|>y')), [1120, EOS, 1121], 'the special tokens of the pattern map to their ids');
});

t.test('clip tokenizer — merges apply lowest rank first', async (t) => {
  t.same(content(tokP().encode('hello')), [2003], 'l l, h e, he ll, hell o</w> → hello</w>');
  const other = ['e l', 'l l', 'h e', 'he ll', 'hell o</w>'].join('\n');
  t.same(content(tokP(other).encode('hello')), [104, 2004, 108, 1111], 'with e l first: h el l o</w>, and nothing else applies');
  t.same(content(tokP('').encode('hello')), [104, 101, 108, 108, 1111], 'no merges: one symbol per byte');
  const dup = ['l l', 'h e', 'he ll', 'hell o</w>', 'l l'].join('\n');
  t.same(content(tokP(dup).encode('hello')), [2003], 'a repeated merge keeps its last rank (HF dict semantics)');
});

t.test('clip tokenizer — bytes beyond ASCII: byte characters, unknown symbols become unk, nothing throws', async (t) => {
  const k = tokP();
  const map = bytesToUnicode();
  t.equal(new Set(map).size, 256, 'bytes_to_unicode is a bijection');
  t.equal(map[0x20], '\u0120', 'space → Ġ');
  t.equal(map[0x41], 'A', 'printable ASCII stays');
  t.same(content(k.encode('é')), [3000, 3001], 'é = C3 A9 → Ã ©</w>');
  t.same(content(k.encode('🙂')), [EOS, EOS, EOS, EOS], 'an emoji the vocab lacks: one unk per byte symbol');
  for (const s of ['\uD800', '\u0000\u0001', '\uFFFF', 'a'.repeat(3000), '!'.repeat(5000), '漢字かな']) {
    t.equal(k.encode(s).length, 77, `${JSON.stringify(s.slice(0, 6))}… encodes`);
  }
  t.same(content(k.encode('a'.repeat(3000))), Array.from({ length: 75 }, () => 97), 'a very long word is cut into pieces and truncated');
});

t.test('clip tokenizer — truncation keeps maxLength - 2 content tokens, and config tokens', async (t) => {
  const k = tok(MERGES, { bos_token: { content: '<|startoftext|>', __type: 'AddedToken' }, eos_token: '<|endoftext|>', pad_token: '!', model_max_length: 8 });
  t.equal(k.maxLength, 8, 'model_max_length from tokenizer_config.json');
  t.equal(k.padId, 33, "SD 2's pad token '!'");
  t.same(Array.from(k.encode(Array(20).fill('a').join(' '))), [BOS, 1097, 1097, 1097, 1097, 1097, 1097, EOS], '6 content tokens, then eos');
  t.same(Array.from(k.encode('hello')), [BOS, 2003, EOS, 33, 33, 33, 33, 33]);
  t.equal(tok(MERGES, { model_max_length: 1e30 }).maxLength, 77, "HF's 'no limit' sentinel means 77");
  t.equal(tok(MERGES, { model_max_length: 77 }, 5).maxLength, 5, 'the maxLength argument overrides');
  t.same(Array.from(tok(MERGES, undefined, 2).encode('hello')), [BOS, EOS], 'maxLength 2: no room for content');
});

t.test('clip tokenizer — malformed vocab, merges and config are refused', async (t) => {
  const merges = MERGES;
  const good = JSON.stringify(vocab(MERGED));
  const make = (vocabJson: string, mergesTxt = merges, tokenizerConfigJson?: string, maxLength?: number) => () =>
    createClipTokenizer({ vocabJson, mergesTxt, ...(tokenizerConfigJson === undefined ? {} : { tokenizerConfigJson }) }, maxLength);
  refused(t, make('{"a": 1'), 'vocab not JSON', /vocab.json: not valid JSON/);
  refused(t, make('[1, 2]'), 'vocab an array', /not a JSON object/);
  refused(t, make('{}'), 'vocab empty', /empty/);
  refused(t, make(JSON.stringify({ ...vocab(), a: -1 })), 'negative id', /not a non-negative 32-bit integer/);
  refused(t, make(JSON.stringify({ ...vocab(), a: 1.5 })), 'fractional id', /id of "a"/);
  refused(t, make(JSON.stringify({ ...vocab(), a: '1' })), 'string id', /id of "a"/);
  const noEos = vocab();
  delete noEos['<|endoftext|>'];
  refused(t, make(JSON.stringify(noEos)), 'no eos in vocab', /eos_token "<\|endoftext\|>" is not in the vocabulary/);
  const noBos = vocab();
  delete noBos['<|startoftext|>'];
  refused(t, make(JSON.stringify(noBos)), 'no bos in vocab', /bos_token/);
  refused(t, make(good, '#version: 0.2\nl l x\n'), 'merge of three parts', /line 2 is not two symbols/);
  refused(t, make(good, '#version: 0.2\nl l\nhe\n'), 'merge of one part', /line 3/);
  refused(t, make(good, 'l l\n\nh e\n'), 'blank line inside merges', /not two symbols/);
  refused(t, make(good, 'l  l'), 'two spaces', /not two symbols/);
  refused(t, make(good, merges, '{"pad_token": "<pad>"}'), 'pad token not in vocab', /pad_token/);
  refused(t, make(good, merges, '{"bos_token": 5}'), 'bos token a number', /bos_token must be a string/);
  refused(t, make(good, merges, '{"model_max_length": 0}'), 'model_max_length 0', /model_max_length/);
  refused(t, make(good, merges, '{"model_max_length": 77.5}'), 'model_max_length fractional', /model_max_length/);
  refused(t, make(good, merges, 'nope'), 'config not JSON', /tokenizer_config.json: not valid JSON/);
  refused(t, make(good, merges, undefined, 1), 'maxLength 1', /maxLength must be/, ErrorCode.SCHEMA);
  refused(t, make(good, merges, undefined, 10_000), 'maxLength 10000', /maxLength must be/, ErrorCode.SCHEMA);
  refused(t, make(' '.repeat(MAX_FILE_CHARS + 1)), 'vocab over 64 MiB of text', /larger than/);
  refused(t, make(good, 'a '.repeat(MAX_FILE_CHARS / 2 + 1)), 'merges over 64 MiB of text', /larger than/);
  t.equal(MAX_VOCAB, 1_000_000, 'at most a million vocabulary entries');
  const eleven = JSON.stringify(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`t${i}`, i])));
  refused(t, () => parseVocab(eleven, 10), 'vocab over its entry limit', /more than 10 entries/);
  t.equal(parseVocab(eleven, 11).size, 11, 'at the limit: accepted');
});
