// A deterministic mixed text corpus for the PII scanner benchmark: prose, JSON, code, logs, with secrets sprinkled in.

const WORDS = ('the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were her she ' +
  'there been one all would their we him has when who will more if no out so said what up its about into than them can only other new some could time ' +
  'these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way ' +
  'model policy inference quarantine registry airlock network request response token weights tensor layer config').split(' ');

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 4294967296; };
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** About `bytes` bytes of text; roughly one finding per 4 KiB. */
export function makeCorpus(bytes: number, seed = 42): Buffer {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const rand = (n: number) => Array.from({ length: n }, () => B64[Math.floor(r() * B64.length)]).join('');
  const secrets = [
    () => `contact ${pick(WORDS)}.${pick(WORDS)}@example.com today`,
    () => `phone +1 415 555 ${1000 + Math.floor(r() * 8999)}`,
    () => 'card 4111 1111 1111 1111',
    () => 'iban GB82 WEST 1234 5698 7654 32',
    () => 'ssn 123-45-6789',
    () => `host 10.${Math.floor(r() * 255)}.0.${Math.floor(r() * 255)}`,
    () => `AKIA${rand(16).toUpperCase()}`,
    () => `ghp_${rand(36)}`,
    () => `Authorization: Bearer ${rand(32)}`,
    () => `key=${rand(40)}`,
  ];
  const chunks: string[] = [];
  let size = 0;
  while (size < bytes) {
    const kind = r();
    let s: string;
    if (kind < 0.6) {
      const n = 40 + Math.floor(r() * 80);
      const w: string[] = [];
      for (let i = 0; i < n; i++) w.push(pick(WORDS));
      s = w.join(' ') + '. ';
      if (r() < 0.3) s = s[0]!.toUpperCase() + s.slice(1) + `In ${1990 + Math.floor(r() * 35)}, ${Math.floor(r() * 1000)} of them (${(r() * 100).toFixed(1)}%) agreed.\n`;
    } else if (kind < 0.8) {
      s = JSON.stringify({ id: Math.floor(r() * 1e6), name: `${pick(WORDS)}_${pick(WORDS)}`, tags: [pick(WORDS), pick(WORDS)], score: r(), created: '2026-11-29T04:12:44Z', path: `/var/lib/${pick(WORDS)}/${pick(WORDS)}.txt` }) + '\n';
    } else if (kind < 0.9) {
      s = `function ${pick(WORDS)}_${pick(WORDS)}(a, b) {\n  const ${pick(WORDS)} = a.${pick(WORDS)}(b, ${Math.floor(r() * 100)});\n  return { ${pick(WORDS)}: a + b };\n}\n`;
    } else {
      s = `2026-11-29T04:${String(Math.floor(r() * 60)).padStart(2, '0')}:12.345Z INFO ${pick(WORDS)} ${pick(WORDS)} took ${Math.floor(r() * 900)} ms status=200 bytes=${Math.floor(r() * 1e5)}\n`;
    }
    if (r() < 0.02) s += ' ' + pick(secrets)() + ' ';
    chunks.push(s);
    size += s.length;
  }
  return Buffer.from(chunks.join(''), 'utf8').subarray(0, bytes);
}
