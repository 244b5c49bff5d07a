// Decisions are pure functions of (policy, input): table-driven per domain, with their evidence.
import t from 'tap';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../common/canonical-json.js';
import { decide, DOMAINS } from '../../policy/decide/index.js';
import { testPolicy } from './helpers.js';

const H = '/home/secai';
const P = testPolicy(H, {
  airlock: { enabled: true, destinations: [{ id: 'hf', host: 'huggingface.co', schemes: ['https'], ports: [443], methods: ['GET', 'HEAD'], path_prefix: '/api/' }] },
});

type Row = [domain: string, input: unknown, decision: 'allow' | 'deny' | 'ask', rule: string];
const rows: Row[] = [
  // tool_access
  ['tool_access', { tool: 'fs.read', args: { path: `${H}/workspace/a.txt` } }, 'allow', 'fs-read'],
  ['tool_access', { tool: 'fs.read', args: { path: `${H}/workspace/a.txt`, max_bytes: 10 } }, 'allow', 'fs-read'],
  ['tool_access', { tool: 'fs.write', args: { path: `${H}/workspace/a.txt`, content: 'hi' } }, 'ask', 'fs-write'],
  ['tool_access', { tool: 'shell.exec', args: { cmd: 'rm -rf /' } }, 'deny', 'default-deny'],
  ['tool_access', { tool: 'fs.read', args: {} }, 'deny', 'fs-read'],
  ['tool_access', { tool: 'fs.read', args: { path: `${H}/a`, extra: 1 } }, 'deny', 'fs-read'],
  ['tool_access', { tool: 'fs.read', args: { path: 42 } }, 'deny', 'fs-read'],
  ['tool_access', { tool: 'fs.read', args: { path: 'relative/a' } }, 'deny', 'fs-read'],
  ['tool_access', { tool: 'fs.read', args: { path: `${H}/workspace/${'a'.repeat(5000)}` } }, 'deny', 'fs-read'],
  ['tool_access', { tool: 'fs.read', args: { path: `${H}/a`, max_bytes: 0 } }, 'deny', 'fs-read'],
  ['tool_access', { tool: 'fs.read', args: { path: `${H}/a`, max_bytes: 1.5 } }, 'deny', 'fs-read'],
  ['tool_access', { tool: 'web.search', args: { query: 'x'.repeat(513) } }, 'deny', 'web-search'],
  ['tool_access', { tool: 'fs.write', args: { path: `${H}/workspace/a`, content: 'x'.repeat(70_000) } }, 'deny', 'tools.max_total_arg_bytes'],
  // path_access
  ['path_access', { path: `${H}/workspace/notes/a.md`, access: 'read' }, 'allow', 'workspace'],
  ['path_access', { path: `${H}/workspace`, access: 'write' }, 'allow', 'workspace'],
  ['path_access', { path: `${H}/registry/m.gguf`, access: 'read' }, 'allow', 'registry-read'],
  ['path_access', { path: `${H}/registry/m.gguf`, access: 'write' }, 'deny', 'default-deny'],
  ['path_access', { path: `${H}/workspace-evil/a`, access: 'read' }, 'deny', 'default-deny'],
  ['path_access', { path: `${H}/keys/operator.ed25519`, access: 'read' }, 'deny', 'no-keys'],
  ['path_access', { path: `${H}/KEYS/operator.ed25519`, access: 'read' }, 'deny', 'no-keys'],
  ['path_access', { path: `${H}/workspace/../keys/x`, access: 'read' }, 'deny', 'paths.lexical'],
  ['path_access', { path: `${H}/workspace/a\u0000b`, access: 'read' }, 'deny', 'paths.lexical'],
  ['path_access', { path: `${H}/workspace\u2215..\u2215keys`, access: 'read' }, 'deny', 'paths.lexical'],
  ['path_access', { path: `${H}/workspace/\uFF0E\uFF0E/keys`, access: 'read' }, 'deny', 'paths.lexical'],
  ['path_access', { path: `${H}/workspace/cafe\u0301`, access: 'read' }, 'deny', 'paths.lexical'],
  ['path_access', { path: `${H}/workspace/\u202Etxt.exe`, access: 'read' }, 'deny', 'paths.lexical'],
  ['path_access', { path: '/etc/shadow', access: 'read' }, 'deny', 'no-etc-shadow'],
  ['path_access', { path: '/', access: 'read' }, 'deny', 'default-deny'],
  ['path_access', { path: `${H}/workspace/a`, access: 'execute' }, 'deny', 'invalid-input'],
  // egress
  ['egress', { method: 'GET', url: 'https://huggingface.co/api/models', bodyBytes: 0, findings: [] }, 'allow', 'hf'],
  ['egress', { method: 'get', url: 'https://HuggingFace.co/api/models', bodyBytes: 0, findings: [] }, 'allow', 'hf'],
  ['egress', { method: 'POST', url: 'https://huggingface.co/api/models', bodyBytes: 10, findings: [] }, 'deny', 'hf'],
  ['egress', { method: 'GET', url: 'http://huggingface.co/api/models', bodyBytes: 0, findings: [] }, 'deny', 'hf'],
  ['egress', { method: 'GET', url: 'https://huggingface.co:8443/api/models', bodyBytes: 0, findings: [] }, 'deny', 'hf'],
  ['egress', { method: 'GET', url: 'https://huggingface.co/other', bodyBytes: 0, findings: [] }, 'deny', 'hf'],
  ['egress', { method: 'GET', url: 'https://huggingface.co.evil.com/api/', bodyBytes: 0, findings: [] }, 'deny', 'default-deny'],
  ['egress', { method: 'GET', url: 'https://user:pw@huggingface.co/api/', bodyBytes: 0, findings: [] }, 'deny', 'airlock.url'],
  ['egress', { method: 'GET', url: 'https://10.0.0.1/api/', bodyBytes: 0, findings: [] }, 'deny', 'airlock.ip-literal'],
  ['egress', { method: 'GET', url: 'https://[::1]/api/', bodyBytes: 0, findings: [] }, 'deny', 'airlock.ip-literal'],
  ['egress', { method: 'GET', url: 'not a url', bodyBytes: 0, findings: [] }, 'deny', 'airlock.url'],
  ['egress', { method: 'GET', url: 'https://huggingface.co/api/x', bodyBytes: 0, findings: ['email'] }, 'deny', 'airlock.scan.email'],
  ['egress', { method: 'GET', url: 'https://huggingface.co/api/x', bodyBytes: 70_000, findings: [] }, 'deny', 'airlock.max_request_bytes'],
  // agent_risk
  ['agent_risk', { action: 'fs.list', risk: 'low' }, 'allow', 'agent_risk.allow_up_to'],
  ['agent_risk', { action: 'fs.write', risk: 'medium' }, 'ask', 'agent_risk.ask_up_to'],
  ['agent_risk', { action: 'fs.write', risk: 'critical' }, 'deny', 'agent_risk.above_ask'],
  ['agent_risk', { action: 'fs.list' }, 'allow', 'agent_risk.allow_up_to'],
  ['agent_risk', { action: 'net.post', risk: 'critical' }, 'deny', 'default-deny'],
  ['agent_risk', { action: 'shell.exec', risk: 'low' }, 'deny', 'no-shell'],
  ['agent_risk', { action: 'fs.read', risk: 'high' }, 'allow', 'read-ok'],
  ['agent_risk', { action: 'fs.read', risk: 'extreme' }, 'deny', 'invalid-input'],
  // sensitivity
  ['sensitivity', { label: 'secret', sink: 'ui' }, 'allow', 'ui-any'],
  ['sensitivity', { label: 'secret', sink: 'model' }, 'deny', 'model-confidential'],
  ['sensitivity', { label: 'internal', sink: 'log' }, 'allow', 'log-internal'],
  ['sensitivity', { label: 'internal', sink: 'egress' }, 'deny', 'egress-public'],
  ['sensitivity', { label: 'public', sink: 'printer' }, 'deny', 'default-deny'],
  ['sensitivity', { label: 'topsecret', sink: 'ui' }, 'deny', 'sensitivity.labels'],
  // model_promotion
  ['model_promotion', { format: 'gguf', sizeBytes: 1e6, stages: [{ stage: 'format', verdict: 'pass' }, { stage: 'integrity', verdict: 'pass' }, { stage: 'static_scan', verdict: 'pass' }] }, 'allow', 'models.all_passed'],
  ['model_promotion', { format: 'gguf', sizeBytes: 1e6, stages: [{ stage: 'format', verdict: 'pass' }, { stage: 'integrity', verdict: 'pass' }, { stage: 'static_scan', verdict: 'warn' }] }, 'ask', 'models.on_warn'],
  ['model_promotion', { format: 'gguf', sizeBytes: 1e6, stages: [{ stage: 'format', verdict: 'pass' }, { stage: 'integrity', verdict: 'fail' }, { stage: 'static_scan', verdict: 'pass' }] }, 'deny', 'models.stage.integrity'],
  ['model_promotion', { format: 'gguf', sizeBytes: 1e6, stages: [{ stage: 'format', verdict: 'pass' }, { stage: 'integrity', verdict: 'pass' }] }, 'deny', 'models.required_stages'],
  ['model_promotion', { format: 'gguf', sizeBytes: 1e6, stages: [{ stage: 'format', verdict: 'pass' }, { stage: 'integrity', verdict: 'pass' }, { stage: 'static_scan', verdict: 'skipped' }] }, 'deny', 'models.required_stages'],
  ['model_promotion', { format: 'pickle', sizeBytes: 1e6, stages: [] }, 'deny', 'models.formats'],
  ['model_promotion', { format: 'gguf', sizeBytes: 2 ** 40, stages: [] }, 'deny', 'models.max_size_bytes'],
  ['model_promotion', { format: 'gguf', sizeBytes: 1, stages: [{ stage: 'format', verdict: 'pass' }, { stage: 'format', verdict: 'pass' }, { stage: 'integrity', verdict: 'pass' }, { stage: 'static_scan', verdict: 'pass' }] }, 'deny', 'models.stages'],
  // unknown domain and malformed input
  ['network', { url: 'x' }, 'deny', 'unknown-domain'],
  ['tool_access', null, 'deny', 'invalid-input'],
  ['tool_access', 'fs.read', 'deny', 'invalid-input'],
  ['path_access', { path: '/a', access: 'read', extra: true }, 'deny', 'invalid-input'],
  ['egress', { method: 'GET', url: 'https://huggingface.co/api/', bodyBytes: -1, findings: [] }, 'deny', 'invalid-input'],
  ['sensitivity', { label: 'public', sink: 'ui', n: Infinity }, 'deny', 'invalid-input'],
];

t.test('decide — table of decisions per domain', async (t) => {
  for (const [domain, input, decision, rule] of rows) {
    const r = decide(P, domain, input);
    t.same({ decision: r.decision, rule: r.rule }, { decision, rule }, `${domain} ${JSON.stringify(input)?.slice(0, 100)}${r.reason ? ` (${r.reason})` : ''}`);
  }
});

t.test('decide — every domain has rows, and each has an allow or ask as well as a deny', async (t) => {
  for (const d of DOMAINS) {
    const mine = rows.filter((r) => r[0] === d);
    t.ok(mine.some((r) => r[2] === 'deny'), `${d} has deny rows`);
    t.ok(mine.some((r) => r[2] !== 'deny'), `${d} has allow/ask rows`);
  }
});

t.test('decide — evidence: policy digest, canonical input hash, evaluation time, domain', async (t) => {
  const input = { access: 'read', path: `${H}/workspace/a` };
  const r = decide(P, 'path_access', input);
  t.equal(r.policyDigest, P.digest);
  t.match(r.policyDigest, /^[0-9a-f]{64}$/);
  t.equal(r.inputHash, createHash('sha256').update(canonicalJson(input)).digest('hex'));
  t.equal(decide(P, 'path_access', { path: input.path, access: 'read' }).inputHash, r.inputHash, 'key order does not change the hash');
  t.equal(r.domain, 'path_access');
  t.ok(r.evalUs >= 0 && Number.isFinite(r.evalUs));
  const fixedClock = [1, 1.0125];
  t.equal(decide(P, 'path_access', input, () => fixedClock.shift()!).evalUs, 12.5, 'evalUs comes from the injected clock');
});

t.test('decide — never throws, whatever the input', async (t) => {
  const weird: unknown[] = [undefined, 0, [], { tool: 'fs.read', args: { path: { deep: [1, 2] } } }, { toString: 1 }, Object.create(null), { path: '/a', access: 'read', x: undefined }];
  for (const w of weird) for (const d of [...DOMAINS, '__proto__', 'constructor']) {
    const r = decide(P, d, w);
    t.ok(['allow', 'deny', 'ask'].includes(r.decision));
    if (d === '__proto__' || d === 'constructor') t.equal(r.rule, 'unknown-domain');
  }
});

t.test('decide — the same input under another policy cites the other digest', async (t) => {
  const Q = testPolicy(H, { paths: { allow: [] } });
  const input = { path: `${H}/workspace/a`, access: 'read' };
  t.equal(decide(P, 'path_access', input).decision, 'allow');
  const q = decide(Q, 'path_access', input);
  t.equal(q.decision, 'deny');
  t.not(q.policyDigest, P.digest);
});

t.test('decide — airlock disabled (the shipped default) denies every egress', async (t) => {
  const D = testPolicy(H);
  const r = decide(D, 'egress', { method: 'GET', url: 'https://huggingface.co/', bodyBytes: 0, findings: [] });
  t.same([r.decision, r.rule], ['deny', 'airlock.disabled']);
});
