// The airlock against a real local HTTP server: allowlist, DNS-pinned addresses, sizes, PII, redirects, evidence.
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decide } from '../../policy/decide/index.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { egressFetch, type EgressEvidence, type EgressRequest, type Resolver } from '../../actors/airlock/egress.js';
import { testPolicy } from '../policy/helpers.js';
import { check } from '../../bus/schema.js';
import { airlockManifest } from '../../actors/airlock/manifest.js';

const hits: { method: string; url: string; host: string; body: string }[] = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    hits.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', body: Buffer.concat(chunks).toString() });
    if (req.url === '/api/big') { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(Buffer.alloc(5000, 1)); return; }
    if (req.url === '/api/chunked-big') { res.writeHead(200); for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000, 2)); res.end(); return; }
    if (req.url === '/api/redirect') { res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }); res.end(); return; }
    if (req.url === '/api/slow') { setTimeout(() => res.end('late'), 3000); return; }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello ${req.method}`);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
const port = (server.address() as AddressInfo).port;

function policy(extra: Record<string, unknown> = {}): PolicySnapshot {
  return testPolicy('/home/secai', {
    airlock: {
      enabled: true, allow_loopback_for_tests: true, max_request_bytes: 1024, max_response_bytes: 4096, timeout_ms: 1000,
      destinations: [{ id: 'local', host: 'models.test', schemes: ['http'], ports: [port], methods: ['GET', 'POST'], path_prefix: '/api/' }],
      ...extra,
    },
  });
}

/** A resolver hook: names resolve to whatever the test says, as a hostile DNS server would. */
const resolver = (map: Record<string, string[]>): Resolver => async (host) => {
  const a = map[host];
  if (!a) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

function deps(p: PolicySnapshot, map: Record<string, string[]> = { 'models.test': ['127.0.0.1'] }, env: NodeJS.ProcessEnv = { SECAI_TEST: '1' }) {
  const evidence: EgressEvidence[] = [];
  return {
    evidence,
    // Every piece of evidence must pass the event schema the actor publishes it under.
    d: { decide: (domain: string, input: unknown) => decide(p, domain, input), policy: () => p, resolve: resolver(map), env, evidence: (e: EgressEvidence) => evidence.push(check(airlockManifest.publishes.egress, e, 'egress event')) },
  };
}

const url = (path: string, host = 'models.test') => `http://${host}:${port}${path}`;

t.test('airlock — a clean allowlisted request goes through, to the pinned address, with evidence', async (t) => {
  const { d, evidence } = deps(policy());
  const before = hits.length;
  const r = await egressFetch(d, { method: 'GET', url: url('/api/models') });
  t.equal(r.status, 200);
  t.equal(Buffer.from(r.body).toString(), 'hello GET');
  t.equal(r.address, '127.0.0.1');
  t.equal(hits.length, before + 1);
  t.equal(hits.at(-1)!.host, `models.test:${port}`, 'the Host header names the host, not the address');
  t.equal(evidence.length, 1);
  t.match(evidence[0], { decision: 'allow', rule: 'local', method: 'GET', origin: `http://models.test:${port}`, address: '127.0.0.1', status: 200, bytes: 9 });
  const post = await egressFetch(d, { method: 'POST', url: url('/api/echo'), body: Buffer.from('a clean body of text') });
  t.equal(Buffer.from(post.body).toString(), 'hello POST');
  t.equal(hits.at(-1)!.body, 'a clean body of text');
});

async function denied(t: Test, d: ReturnType<typeof deps>['d'], req: EgressRequest, rule: string | RegExp, what: string) {
  const before = hits.length;
  await t.rejects(egressFetch(d, req), { code: 'SECAI_E_EGRESS_DENIED', message: rule instanceof RegExp ? rule : new RegExp(rule.replace(/\./g, '\\.')) }, what);
  t.equal(hits.length, before, `${what}: nothing reached the server`);
}

t.test('airlock — non-allowlisted hosts, methods, paths and a disabled airlock are refused', async (t) => {
  const { d, evidence } = deps(policy(), { 'models.test': ['127.0.0.1'], 'evil.test': ['127.0.0.1'] });
  await denied(t, d, { method: 'GET', url: url('/api/x', 'evil.test') }, 'default-deny', 'other host');
  await denied(t, d, { method: 'DELETE', url: url('/api/x') }, 'local', 'method');
  await denied(t, d, { method: 'GET', url: url('/admin') }, 'local', 'path prefix');
  await denied(t, d, { method: 'GET', url: `http://127.0.0.1:${port}/api/x` }, 'airlock.ip-literal', 'IP literal');
  await denied(t, d, { method: 'GET', url: url('/api/x'), headers: { Host: 'models.test' } }, 'airlock.headers', 'Host header override');
  t.ok(evidence.every((e) => e.decision === 'deny'), 'each denial left evidence');
  const off = deps(policy({ enabled: false }));
  await denied(t, off.d, { method: 'GET', url: url('/api/x') }, 'airlock.disabled', 'disabled');
});

t.test('airlock — private, loopback, link-local, CGNAT, ULA and mapped addresses after DNS are refused', async (t) => {
  const cases: [string[], string][] = [
    [['10.0.0.5'], 'private'], [['192.168.1.1'], 'private'], [['172.16.0.1'], 'private'], [['169.254.169.254'], 'link-local'],
    [['100.64.1.1'], 'cgnat'], [['fd00::1'], 'ula'], [['fe80::1'], 'link-local'], [['::ffff:10.0.0.1'], 'private'],
    [['0.0.0.0'], 'unspecified'], [['224.0.0.1'], 'multicast'], [['93.184.216.34', '10.0.0.1'], 'private'],
  ];
  for (const [addrs, cls] of cases) {
    const { d } = deps(policy(), { 'models.test': addrs });
    await denied(t, d, { method: 'GET', url: url('/api/x') }, `airlock.address.${cls}`, `${addrs.join(',')} → ${cls}`);
  }
  // Loopback needs BOTH the policy switch and SECAI_TEST=1: either alone keeps it closed.
  for (const [addr, cls] of [['127.0.0.1', 'loopback'], ['::1', 'loopback'], ['::ffff:127.0.0.1', 'loopback']] as const) {
    await denied(t, deps(policy(), { 'models.test': [addr] }, {}).d, { method: 'GET', url: url('/api/x') }, `airlock.address.${cls}`, `${addr} without SECAI_TEST`);
    await denied(t, deps(policy({ allow_loopback_for_tests: false }), { 'models.test': [addr] }).d, { method: 'GET', url: url('/api/x') }, `airlock.address.${cls}`, `${addr} without the policy switch`);
  }
  await denied(t, deps(policy(), {}).d, { method: 'GET', url: url('/api/x') }, 'airlock.dns', 'unresolvable');
});

t.test('airlock — oversized request bodies and responses are refused', async (t) => {
  const { d } = deps(policy());
  await denied(t, d, { method: 'POST', url: url('/api/echo'), body: Buffer.alloc(2000, 97) }, 'airlock.max_request_bytes', 'body over max_request_bytes');
  await t.rejects(egressFetch(d, { method: 'GET', url: url('/api/big') }), { code: 'SECAI_E_EGRESS_FAILED', message: /exceeds 4096/ }, 'declared response too large');
  await t.rejects(egressFetch(d, { method: 'GET', url: url('/api/chunked-big') }), { code: 'SECAI_E_EGRESS_FAILED', message: /exceeds 4096/ }, 'streamed response too large');
  await t.rejects(egressFetch(d, { method: 'GET', url: url('/api/slow') }), { code: 'SECAI_E_EGRESS_FAILED', message: /timed out|timeout/i }, 'slow response times out');
});

t.test('airlock — redirects are returned, not followed', async (t) => {
  const { d } = deps(policy());
  const before = hits.length;
  const r = await egressFetch(d, { method: 'GET', url: url('/api/redirect') });
  t.equal(r.status, 302);
  t.equal(r.headers.location, 'http://169.254.169.254/latest/meta-data/');
  t.equal(hits.length, before + 1, 'one request, no second hop');
});

t.test('airlock — requests carrying each PII or credential kind are refused, and the evidence holds no secret', async (t) => {
  const secrets: [string, string][] = [
    ['email', 'jane.doe@example.com'], ['phone', '+1 415 555 2671'], ['card', '4111 1111 1111 1111'], ['iban', 'GB82 WEST 1234 5698 7654 32'],
    ['ssn', '078-05-1120'], ['ipv4', '10.20.30.40'], ['ipv6', '2001:db8::1'], ['aws_key', 'AKIAIOSFODNN7EXAMPLE'],
    ['github_token', 'ghp_1234567890abcdefghijABCDEFGHIJ123456'], ['openai_key', 'sk-proj-abcDEF123456ghiJKL789mno'],
    ['slack_token', 'xoxb-123456789012-abcdefghijkl'], ['google_api_key', 'AIzaSyA1234567890abcdefghijklmnopqrstuv'],
    ['stripe_key', 'sk_live_51H8abcdefghijklmnopqrstuv'], ['bearer_token', 'Bearer eyJhbGciOiJIUzI1NiJ9abcdef'],
    ['private_key', '-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----'], ['high_entropy', 'Q2xhc3NpY1Rva2VuOnZhbHVlOjEyMzQ1Njc4OTA'],
    ['named_credential', 'password=hunter2-plain'], ['url_credential', 'postgres://app:pw-in-url@db/x'],
  ];
  for (const [kind, secret] of secrets) {
    const places: [string, EgressRequest][] = [
      ['body', { method: 'POST', url: url('/api/echo'), body: Buffer.from(`{"note":"${secret.replace(/\n/g, '\\n')}"}`) }],
      ['url', { method: 'GET', url: url(`/api/search?q=${encodeURIComponent(secret)}`) }],
      ['header', { method: 'GET', url: url('/api/x'), headers: { 'x-note': secret.replace(/\n/g, ' ') } }],
    ];
    for (const [where, req] of places) {
      if (kind === 'private_key' && where === 'header') continue; // a PEM block cannot be a header value
      const { d, evidence } = deps(policy());
      await denied(t, d, req, `airlock.scan.${kind}`, `${kind} in the ${where}`);
      const ev = JSON.stringify(evidence);
      t.notOk(ev.includes(secret.split('\n')[0]!.slice(-12)), `${kind} in the ${where}: the evidence does not repeat the secret`);
    }
  }
});

t.test('airlock — a policy that does not block a kind lets it through (the scan obeys policy)', async (t) => {
  const { d } = deps(policy({ scan: { block: ['card'], entropy_min_length: 24, entropy_bits: 4.2 } }));
  const r = await egressFetch(d, { method: 'POST', url: url('/api/echo'), body: Buffer.from('contact: jane.doe@example.com') });
  t.equal(r.status, 200);
});
