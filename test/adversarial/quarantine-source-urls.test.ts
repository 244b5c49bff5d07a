import t from 'tap';
import { canonicalizeUrl, checkSource, sourceStage, type SourcesAllowlist } from '../../actors/quarantine/stages/source.js';
import type { Artifact } from '../../actors/quarantine/stages/types.js';

const list: SourcesAllowlist = {
  sources: [{ host: 'huggingface.co', subdomains: false }, { host: 'hf.co', subdomains: true }],
  ip_literals: ['10.0.0.5'],
};

t.test('source policy — allowed origins are canonicalized', async (t) => {
  for (const [raw, host] of [
    ['https://huggingface.co/org/model/resolve/main/m.gguf', 'huggingface.co'],
    ['https://HuggingFace.CO/org/m.gguf', 'huggingface.co'],
    ['https://huggingface.co:443/org/m.gguf', 'huggingface.co'],
    ['https://cdn-lfs.hf.co/x', 'cdn-lfs.hf.co'],
    ['https://huggingface.co/a/../b/m.gguf?download=true', 'huggingface.co'],
    ['https://10.0.0.5/m.gguf', '10.0.0.5'],
  ] as const) {
    const d = checkSource(raw, list);
    t.ok(d.allowed, raw);
    if (d.allowed) t.equal(d.host, host, raw);
  }
  t.match(checkSource('https://huggingface.co/a/../b/m.gguf', list), { allowed: true, url: 'https://huggingface.co/b/m.gguf' });
});

t.test('source policy — adversarial URLs are refused with the rule that fired', async (t) => {
  const cases: [string, string][] = [
    ['http://huggingface.co/m.gguf', 'scheme'],
    ['ftp://huggingface.co/m.gguf', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['//huggingface.co/m.gguf', 'scheme'],
    ['https://user:pass@huggingface.co/m.gguf', 'userinfo'],
    ['https://huggingface.co@evil.com/m.gguf', 'userinfo'],
    ['https://evil.com@huggingface.co/m.gguf', 'userinfo'],
    ['https://@huggingface.co/m.gguf', 'userinfo'],
    ['https://huggingface.co:8443/m.gguf', 'port'],
    ['https://huggingface.co:/m.gguf', 'port'],
    ['https://huggingface.co.evil.com/m.gguf', 'not_allowlisted'],
    ['https://evilhuggingface.co/m.gguf', 'not_allowlisted'],
    ['https://huggingface.co-evil.com/m.gguf', 'not_allowlisted'],
    ['https://sub.huggingface.co/m.gguf', 'not_allowlisted'],
    ['https://huggingface.co./m.gguf', 'trailing_dot'],
    ['https://huggingface.co/m.gguf#frag', 'fragment'],
    ['https://huggingface.co\\@evil.com/m.gguf', 'backslash'],
    ['https://huggingface.co%2eevil.com/m.gguf', 'encoded_separator'],
    ['https://huggingface.co/a%2f..%2f..%2fetc', 'encoded_separator'],
    ['https://huggingface.co/%2e%2e/x', 'encoded_separator'],
    ['https://huggingface%2Eco/x', 'encoded_separator'],
    ['https://hugginGface.co/x'.replace('G', 'ɡ'), 'non_ascii'],
    ['https://huggingfacе.co/x', 'non_ascii'], // Cyrillic е
    ['https://huggingface。co/x', 'non_ascii'], // ideographic full stop
    ['https://ｈuggingface.co/x', 'non_ascii'], // fullwidth h
    ['https://xn--huggingface-xyz.co/x', 'punycode'],
    ['https://hf.xn--co-xyz/x', 'punycode'],
    ['https://127.0.0.1/m.gguf', 'ip_literal'],
    ['https://0x7f.1/m.gguf', 'ip_literal'],
    ['https://2130706433/m.gguf', 'ip_literal'],
    ['https://[::1]/m.gguf', 'ip_literal'],
    ['https://huggingface.co /m.gguf', 'control_or_space'],
    ['https://huggingface.co/m.gguf\n', 'control_or_space'],
    [' https://huggingface.co/m.gguf', 'control_or_space'],
    ['', 'empty'],
    [`https://huggingface.co/${'a'.repeat(3000)}`, 'too_long'],
    ['https://', 'scheme'],
  ];
  for (const [raw, rule] of cases) {
    const d = checkSource(raw, list);
    t.equal(d.allowed, false, `refused: ${JSON.stringify(raw).slice(0, 80)}`);
    if (!d.allowed) t.equal(d.rule, rule, `rule for ${JSON.stringify(raw).slice(0, 80)}`);
  }
  t.match(canonicalizeUrl('https://xn--hggingface-q9a.co/'), { ok: false, rule: 'punycode' });
});

const artifact = (origin: Artifact['origin']): Artifact => ({ path: '/nonexistent', kind: 'file', name: 'm.gguf', origin, size: 1 });

t.test('source stage — verdicts and labels', async (t) => {
  const noop = () => {};
  t.match(await sourceStage(artifact({ type: 'local' }), { allowlist: list, local: 'warn' }, noop), { stage: 'source', verdict: 'warn', reason: 'local import, no provenance' });
  t.match(await sourceStage(artifact({ type: 'local' }), { allowlist: list, local: 'pass' }, noop), { verdict: 'pass', evidence: { label: 'local import, no provenance' } });
  t.match(await sourceStage(artifact({ type: 'url', url: 'https://huggingface.co/m.gguf' }), { allowlist: list, local: 'warn' }, noop), { verdict: 'pass', evidence: { host: 'huggingface.co' } });
  t.match(await sourceStage(artifact({ type: 'url', url: 'https://huggingface.co.evil.com/m.gguf' }), { allowlist: list, local: 'pass' }, noop), { verdict: 'fail', evidence: { rule: 'not_allowlisted' } });
});
