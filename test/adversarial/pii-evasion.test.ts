// Adversarial: an agent trying to get PII or a credential past the scanner: padding a value with more numbers,
// odd separators, gluing it to words, or naming the secret by its key instead of its shape.
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scan } from '../../policy/pii/scanner.js';
import { redact, redactValue } from '../../policy/pii/redact.js';
import { decide } from '../../policy/decide/index.js';
import { egressFetch, type EgressDeps } from '../../actors/airlock/egress.js';
import { testPolicy } from '../policy/helpers.js';

const NBSP = '\u00a0';

/** [text an attacker sends, the secret inside it that must not survive redaction]. */
const padded: [string, string][] = [
  ['order … 123-45-6789 12 items', '123-45-6789'],
  ['ssn 078-05-1120 2024', '078-05-1120'],
  ['ssn 078 05 1120 7 8 9', '078 05 1120'],
  ['12 078-05-1120', '078-05-1120'],
  ['id.078-05-1120', '078-05-1120'],
  ['ssn078-05-1120x', '078-05-1120'],
  ['card 4111 1111 1111 1111 2024', '4111 1111 1111 1111'],
  ['card 4111-1111-1111-1111-99', '4111-1111-1111-1111'],
  ['card 378282246310005 qty 3', '378282246310005'],
  ['card 378282246310005.5', '378282246310005'],
  ['card 5 4111 1111 1111 1111', '4111 1111 1111 1111'],
  [`card 4111${NBSP}1111${NBSP}1111${NBSP}1111`, `4111${NBSP}1111`],
  ['card 4111%201111%201111%201111', '4111%201111'],
  ['card 4111+1111+1111+1111', '4111+1111'],
  ['card 4111  1111\t1111\n1111', '1111\t1111'],
  ['card 4111\r\n1111 1111 1111 end', '4111\r\n1111'],
  ['ip 203.0.113.9 5', '203.0.113.9'],
  ['ip 10.0.0.1.5', '10.0.0.1'],
  ['ip v10.0.0.1', '10.0.0.1'],
  ['ip 256.10.0.0.1', '10.0.0.1'],
  ['call 415-555-2671 99', '415-555-2671'],
  ['call (415) 555-2671 ext 12 34', '(415) 555-2671'],
  ['call +44 20 7946 0958 12345 678', '+44 20 7946 0958'],
  ['v6 ::4111 1111 1111 1111', '4111 1111 1111'],
];

t.test('pii evasion — a value followed or preceded by more numbers, odd separators or letters is still found and redacted', async (t) => {
  for (const [text, secret] of padded) {
    const found = scan(text);
    t.ok(found.length > 0, `found: ${JSON.stringify(text)}`);
    const red = redact(text);
    t.notOk(red.includes(secret), `redacted: ${JSON.stringify(text)} → ${JSON.stringify(red)}`);
  }
});

t.test('pii evasion — numbers that are no PII stay unflagged (Luhn, SSN rules, octets, fractions, NANP)', async (t) => {
  for (const text of ['4111 1111 1111 1112 12', '000-12-3456 7', '666-12-3456 1', '123-45-0000 9', '256.1.1.1 4', '100 200 3000 4',
    'pi 3.14159265358979323846', 'score 0.4532015112830366', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'uuid 123e4567-e89b-12d3-a456-426614174000', 'at 2026-11-29T04:12:44.123Z', 'sum 10+20+30+40+50', 'version 1.2.3']) {
    t.same(scan(text).map((f) => f.kind), [], text);
  }
});

/** [text, kind, the secret that must be found and redacted]. */
const named: [string, string, string][] = [
  ['curl "https://api.example.com/v1?api_key=Zq81hunter2longish&x=1"', 'named_credential', 'Zq81hunter2longish'],
  ['password: correct horse', 'named_credential', 'correct'],
  ['DB_PASSWORD="hunter2!"', 'named_credential', 'hunter2!'],
  ['export CLIENT_SECRET=abc123def', 'named_credential', 'abc123def'],
  ['{"privateKey": "MIIEvQIBADANBg"}', 'named_credential', 'MIIEvQIBADANBg'],
  ['{"api-token":"tok_live_42"}', 'named_credential', 'tok_live_42'],
  ['{"secret" : "s3cr3t-value"}', 'named_credential', 's3cr3t-value'],
  ['{"authorization": "Basic dXNlcjpwYXNz"}', 'named_credential', 'dXNlcjpwYXNz'],
  ['Authorization: Basic dXNlcjpwYXNz', 'named_credential', 'dXNlcjpwYXNz'],
  ['X-Api-Key: 9f8e7d6c5b4a', 'named_credential', '9f8e7d6c5b4a'],
  ['{\\"password\\":\\"in-a-string\\"}', 'named_credential', 'in-a-string'],
  ["pwd='pa ss'", 'named_credential', 'pa ss'],
  ['postgres://user:pass@host/db', 'url_credential', 'user:pass'],
  ['redis://:topsecret@10.1.2.3:6379/0', 'url_credential', 'topsecret'],
  ['mongodb+srv://admin:p@ss@cluster0.example.net/x', 'url_credential', 'p@ss'],
  ['{"dsn":"mysql:\\/\\/root:toor@db\\/app"}', 'url_credential', 'root:toor'],
];

t.test('pii evasion — credentials named by their key or sitting in a URL are found and redacted', async (t) => {
  for (const [text, kind, secret] of named) {
    // Found as `kind`, or inside a finding with a shape of its own (`api_key=Zq81…` is one high-entropy token).
    const at = Buffer.from(text).indexOf(secret);
    t.ok(scan(text).some((f) => f.kind === kind || (f.start <= at && f.end >= at + Buffer.byteLength(secret))), `${kind}: ${text}`);
    t.notOk(redact(text).includes(secret), `redacted: ${text} → ${redact(text)}`);
  }
  for (const text of ['bos_token: "<s>"', 'max_token: 512', 'const token = a.network(b, 76);', 'password: ********', 'if (token == other)', '"tokens": 3', 'https://example.com:8443/a:b', 'ssh://git@github.com/x.git']) {
    t.notOk(scan(text).some((f) => f.kind === 'named_credential' || f.kind === 'url_credential'), `not a credential: ${text}`);
  }
});

t.test('pii evasion — audit redaction of tool arguments goes by key name too, and keys are redacted', async (t) => {
  const args = {
    privateKey: 'plainlookingtext', 'api-token': 'abc', secret: 'hunter2', authorization: 'Basic dXNlcjpwYXNz', password: 123456789,
    nested: { db: 'postgres://user:pass@host/db', creds: [{ Password: 'x y z' }] }, '078-05-1120': 'key holds an SSN',
    long: `${'a'.repeat(4090)} 4111 1111 1111 1111`, note: 'ok', public: true,
  };
  const r = redactValue(args) as Record<string, any>;
  const json = JSON.stringify(r);
  for (const s of ['plainlookingtext', 'hunter2', 'dXNlcjpwYXNz', '123456789', 'user:pass', 'x y z', '078-05-1120', '4111 1111']) t.notOk(json.includes(s), `no ${s}`);
  t.equal(r.privateKey, '[REDACTED:named_credential]');
  t.equal(r['api-token'], '[REDACTED:named_credential]', 'even a value too short to scan');
  t.equal(r.nested.creds[0].Password, '[REDACTED:named_credential]');
  t.equal(r.note, 'ok');
  t.equal(r.public, true);
  t.ok(Object.keys(r).includes('[REDACTED:ssn]'), 'the key that held an SSN');
});

t.test('pii evasion — the airlock refuses bodies padded to hide a value, and nothing leaves', async (t) => {
  let hits = 0;
  const server = createServer((_req, res) => { hits++; res.end('ok'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;
  const p = testPolicy('/home/secai', {
    airlock: {
      enabled: true, allow_loopback_for_tests: true, max_request_bytes: 4096, max_response_bytes: 4096, timeout_ms: 1000,
      destinations: [{ id: 'local', host: 'models.test', schemes: ['http'], ports: [port], methods: ['POST'], path_prefix: '/api/' }],
    },
  });
  const d: EgressDeps = {
    decide: (domain, input) => decide(p, domain, input), policy: () => p,
    resolve: async () => [{ address: '127.0.0.1', family: 4 }], env: { SECAI_TEST: '1' }, evidence: () => {},
  };
  const url = `http://models.test:${port}/api/echo`;
  await egressFetch(d, { method: 'POST', url, body: Buffer.from('{"note":"nothing to see"}') });
  t.equal(hits, 1, 'a clean body goes out (the destination is reachable)');
  const bodies: [string, string][] = [
    ['{"note":"… 123-45-6789 12 items"}', 'ssn'], ['{"note":"4111 1111 1111 1111 2024"}', 'card'], ['{"note":"host 10.0.0.1 5"}', 'ipv4'],
    ['{"note":"call 415-555-2671 99"}', 'phone'], ['{"password":"hunter2!"}', 'named_credential'], ['{"db":"postgres://user:pass@host/db"}', 'url_credential'],
  ];
  for (const [body, kind] of bodies) {
    await t.rejects(egressFetch(d, { method: 'POST', url, body: Buffer.from(body) }), { code: 'SECAI_E_EGRESS_DENIED', message: new RegExp(`airlock\\.scan\\.${kind}`) }, body);
  }
  t.equal(hits, 1, 'none of them reached the server');
});
