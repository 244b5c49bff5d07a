// Adversarial: sources allowlisted by path prefix (organisation or repository), not only by host. Look-alike
// organisations, encodings, dot and empty segments, case, and direct links to a CDN that paths cannot bind.
import t from 'tap';
import { allowedCallers } from '../../bus/acl.js';
import { readFileSync } from 'node:fs';
import { airlockManifest } from '../../actors/airlock/manifest.js';
import { openDownload } from '../../actors/quarantine/download.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { quarantineManifest } from '../../actors/quarantine/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import { checkSource, entryLabel, sourceStage, type SourcesAllowlist } from '../../actors/quarantine/stages/source.js';
import type { Artifact } from '../../actors/quarantine/stages/types.js';
import type { ActorManifest } from '../../bus/manifest.js';
import { serveManifest } from '../../bus/service.js';
import { createLogger } from '../../common/log.js';
import { parseConfig } from '../../policy/load.js';
import { startTestBus } from '../helpers/bus.js';

const list: SourcesAllowlist = {
  sources: [
    { host: 'huggingface.co', subdomains: false, path_prefix: '/org/' },
    { host: 'huggingface.co', subdomains: false, path_prefix: '/solo/model' },
    { host: 'models.test', subdomains: false },
    { host: 'cdn.test', subdomains: false, redirect_only: true },
  ],
  ip_literals: [],
};

t.test('source prefixes — URLs under an allowlisted organisation or repository pass, after normalization', async (t) => {
  for (const [raw, rule] of [
    ['https://huggingface.co/org/repo/resolve/main/m.gguf', 'sources: huggingface.co/org/'],
    ['https://huggingface.co/org', 'sources: huggingface.co/org/'],
    ['https://huggingface.co/%6Frg/repo/m.gguf', 'sources: huggingface.co/org/'],
    ['https://huggingface.co/other/../org/repo/m.gguf', 'sources: huggingface.co/org/'],
    ['https://huggingface.co/solo/model/resolve/main/m.gguf?download=true', 'sources: huggingface.co/solo/model/'],
    ['https://huggingface.co/solo/model/', 'sources: huggingface.co/solo/model/'],
    ['https://models.test/any/where/m.gguf', 'sources: models.test'],
  ] as const) {
    const d = checkSource(raw, list);
    t.match(d, { allowed: true, rule }, raw);
  }
});

t.test('source prefixes — look-alike organisations, other repositories and path tricks are refused with the rule', async (t) => {
  const cases: [string, string][] = [
    ['https://huggingface.co/org-evil/repo/m.gguf', 'path_not_allowlisted'],
    ['https://huggingface.co/orgx/repo/m.gguf', 'path_not_allowlisted'],
    ['https://huggingface.co/ORG/repo/m.gguf', 'path_not_allowlisted'],
    ['https://huggingface.co/evil/org/repo/m.gguf', 'path_not_allowlisted'],
    ['https://huggingface.co/solo/model-evil/m.gguf', 'path_not_allowlisted'],
    ['https://huggingface.co/solo/modelx', 'path_not_allowlisted'],
    ['https://huggingface.co/solo/other/m.gguf', 'path_not_allowlisted'],
    ['https://huggingface.co/solo', 'path_not_allowlisted'],
    ['https://huggingface.co/', 'path_not_allowlisted'],
    ['https://huggingface.co/org/repo/../../evil/m.gguf', 'path_not_allowlisted'],
    ['https://huggingface.co/org/..%2Fevil/m.gguf', 'encoded_separator'],
    ['https://huggingface.co/org%2Fevil/m.gguf', 'encoded_separator'],
    ['https://huggingface.co/org/%2e%2e/evil', 'encoded_separator'],
    ['https://huggingface.co/org//repo/m.gguf', 'empty_segment'],
    ['https://huggingface.co//org/repo/m.gguf', 'empty_segment'],
    ['https://huggingface.co/org/%C0%AE%C0%AE/evil', 'bad_encoding'],
    ['https://huggingface.co/org/%ZZ', 'bad_encoding'],
    ['https://huggingface.co/org/%0a/x', 'encoded_separator'],
    ['https://huggingface.co.evil.com/org/repo', 'not_allowlisted'],
  ];
  for (const [raw, rule] of cases) {
    const d = checkSource(raw, list);
    t.equal(d.allowed, false, `refused: ${raw}`);
    if (!d.allowed) t.equal(d.rule, rule, `${raw}: ${d.reason}`);
  }
  const d = checkSource('https://huggingface.co/org-evil/x', list);
  t.match(d, { reason: /not under an allowlisted path of huggingface\.co \(huggingface\.co\/org\/, huggingface\.co\/solo\/model\/\)/ }, 'the reason names the prefixes in force');
});

t.test('source prefixes — a redirect_only host is refused when asked for directly, accepted where an allowed URL led', async (t) => {
  t.match(checkSource('https://cdn.test/blobs/abc', list), { allowed: false, rule: 'redirect_only' });
  t.match(checkSource('https://cdn.test/blobs/abc', list, 'redirect'), { allowed: true, rule: 'sources: cdn.test' });
  t.match(checkSource('https://huggingface.co/org-evil/x', list, 'redirect'), { allowed: false, rule: 'path_not_allowlisted' }, 'a redirect to another organisation is refused');
  const stage = await sourceStage(artifact('https://cdn.test/blobs/abc'), { allowlist: list, local: 'warn' }, () => {});
  t.match(stage, { verdict: 'fail', evidence: { rule: 'redirect_only' } }, 'stage 1 judges the URL asked for');
});

const artifact = (url: string): Artifact => ({ path: '/nonexistent', kind: 'file', name: 'm.gguf', origin: { type: 'url', url }, size: 1 });

t.test('source prefixes — stage 1 cites the entry that matched, or the rule that refused', async (t) => {
  t.match(await sourceStage(artifact('https://huggingface.co/org/r/m.gguf'), { allowlist: list, local: 'warn' }, () => {}), { verdict: 'pass', evidence: { rule: 'sources: huggingface.co/org/' } });
  t.match(await sourceStage(artifact('https://huggingface.co/org-evil/r/m.gguf'), { allowlist: list, local: 'warn' }, () => {}), { verdict: 'fail', evidence: { rule: 'path_not_allowlisted' } });
  t.same(list.sources.map(entryLabel), ['huggingface.co/org/', 'huggingface.co/solo/model/', 'models.test', 'cdn.test']);
});

t.test('source prefixes — the schema refuses prefixes that could not match as written', async (t) => {
  const yaml = (prefix: string) => `version: 1\nsources:\n  - host: huggingface.co\n    subdomains: false\n    path_prefix: "${prefix}"\nip_literals: []\n`;
  for (const bad of ['org/', '/org/../evil', '/org//x', '/%6Frg/', '/.hidden/', '/', '/org/ x']) {
    t.throws(() => parseConfig(yaml(bad), 'sources.allowlist.schema.json', 'test.yaml'), { code: 'SECAI_E_CONFIG_INVALID' }, `refused: ${bad}`);
  }
  for (const good of ['/org/', '/org/repo', '/Org_1/Model-7B.v2']) {
    t.doesNotThrow(() => parseConfig(yaml(good), 'sources.allowlist.schema.json', 'test.yaml'), good);
  }
  const shipped = parseConfig<SourcesAllowlist>(readFileSync(new URL('../../policy/sources.allowlist.yaml', import.meta.url), 'utf8'), 'sources.allowlist.schema.json', 'shipped');
  t.match(checkSource('https://cdn-lfs.hf.co/repos/ab/cd/blob', shipped.value), { allowed: false, rule: 'redirect_only' }, 'the shipped CDN entries are redirect-only');
  t.match(checkSource('https://huggingface.co/any/repo/resolve/main/m.gguf', shipped.value), { allowed: true }, 'the shipped host-only entry still allows the whole host');
});

t.test('source prefixes — URL import: a redirect to the CDN is followed, a direct CDN link is refused before any egress', async (t) => {
  const bus = await startTestBus([airlockManifest, quarantineManifest, registryManifest, policyManifest]);
  t.teardown(() => bus.stop());
  const q = await bus.connect('quarantine');
  const airlock = await bus.connect('airlock');
  const asked: string[] = [];
  // Typed as any manifest: this stand-in airlock answers only what the test asks, with stub replies.
  serveManifest<ActorManifest>({
    bus: airlock, manifest: airlockManifest, log: createLogger('test', 'silent'), operators: { lookup: () => undefined },
    callers: allowedCallers([airlockManifest, quarantineManifest, registryManifest, policyManifest]),
    commands: { status: () => ({}), ping: () => ({}), enable: () => ({}) },
    ops: {
      fetch: () => ({}), status: () => ({}), ping: () => ({}), describe: () => ({}), snapshot: () => ({}), contain: () => ({}),
      // The origin answers with a redirect to the CDN, the CDN with the file.
      download: (req: { url: string }) => {
        asked.push(req.url);
        return req.url.startsWith('https://cdn.test/')
          ? { status: 200, headers: {}, address: '127.0.0.1', decision: {}, limit: 1 << 20, id: 'prefixtestprefix', length: 4 }
          : { status: 302, headers: { location: 'https://cdn.test/blobs/abc' }, address: '127.0.0.1', decision: {}, limit: 1 << 20 };
      },
      download_next: () => ({ seq: 0, data: new Uint8Array(0), done: true, bytes: 0 }),
      download_cancel: () => ({ cancelled: true }),
    },
  });
  await airlock.nc.flush();
  const o = (url: string) => ({ bus: q, url, allowlist: list, workDir: '/nonexistent', maxBytes: 1 << 20, maxMs: 60_000, requestMs: 5000 });
  const open = await openDownload(o('https://huggingface.co/org/repo/resolve/main/m.gguf'));
  t.equal(open.url, 'https://cdn.test/blobs/abc', 'the redirect to the CDN was followed');
  t.same(asked, ['https://huggingface.co/org/repo/resolve/main/m.gguf', 'https://cdn.test/blobs/abc']);
  asked.length = 0;
  await t.rejects(openDownload(o('https://cdn.test/blobs/abc')), { code: 'SECAI_E_IMPORT_REFUSED', message: /redirect_only/ });
  await t.rejects(openDownload(o('https://huggingface.co/org-evil/repo/resolve/main/m.gguf')), { code: 'SECAI_E_IMPORT_REFUSED', message: /not under an allowlisted path/ });
  t.same(asked, [], 'nothing was asked of the airlock for the refused URLs');
});
