// bench:policy — decision latency in-process and over the bus (real nats-server; the engine's decide op
// served by our bus layer, which bench:bus compares with raw NATS), and PII/credential scan throughput on a
// generated 64 MiB corpus, next to a bare byte-class loop over the same bytes (how loaded the machine is).
// The bus figure is printed next to raw NATS request/reply (an echo responder on a bare subscription, no code
// of ours) interleaved in the same run: on a VM whose idle vCPUs halt to the host, that floor is the host's.
import { allowedCallers } from '../bus/acl.js';
import { encode } from '../bus/codec.js';
import { defineManifest } from '../bus/manifest.js';
import { s } from '../bus/schema.js';
import { serveManifest } from '../bus/service.js';
import { createLogger } from '../common/log.js';
import { decide } from '../policy/decide/index.js';
import { Scanner } from '../policy/pii/scanner.js';
import { policyManifest } from '../actors/policy/manifest.js';
import { startTestBus } from '../test/helpers/bus.js';
import { testPolicy } from '../test/policy/helpers.js';
import { makeCorpus } from './pii-corpus.js';
import { emit, round, summarize, table } from './stats.js';

const N = Number(process.env.BENCH_ROUNDS ?? 20_000);
const BUS_ROUNDS = Number(process.env.BENCH_BUS_ROUNDS ?? 4000);
const CORPUS_MIB = Number(process.env.BENCH_CORPUS_MIB ?? 64);
const H = '/home/secai';
const P = testPolicy(H, { airlock: { enabled: true } });

const INPUTS: [string, unknown][] = [
  ['tool_access', { tool: 'fs.read', args: { path: `${H}/workspace/notes/today.md`, max_bytes: 4096 } }],
  ['path_access', { path: `${H}/workspace/notes/today.md`, access: 'read' }],
  ['egress', { method: 'GET', url: 'https://huggingface.co/api/models/tiny', bodyBytes: 0, findings: [] }],
  ['agent_risk', { action: 'fs.list', risk: 'low' }],
  ['sensitivity', { label: 'internal', sink: 'model' }],
  ['model_promotion', { format: 'gguf', sizeBytes: 1e9, stages: [{ stage: 'format', verdict: 'pass' }, { stage: 'integrity', verdict: 'pass' }, { stage: 'static_scan', verdict: 'pass' }] }],
];

function inProcess() {
  const rows: { domain: string; p50: number; p99: number }[] = [];
  const all: number[] = [];
  for (const [domain, input] of INPUTS) {
    if (decide(P, domain, input).decision !== 'allow') throw new Error(`bench input for ${domain} is not an allow`);
    for (let i = 0; i < 2000; i++) decide(P, domain, input);
    const xs: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = process.hrtime.bigint();
      decide(P, domain, input);
      xs.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const s = summarize(xs);
    rows.push({ domain, p50: s.p50, p99: s.p99 });
    all.push(...xs);
  }
  return { rows, all: summarize(all) };
}

const rawEcho = defineManifest({
  name: 'benchraw', kind: 'actor', description: 'bench: raw NATS echo', entry: 'none.js',
  serves: { raw: { request: s.any(), reply: s.any(), description: 'raw baseline' } },
  commands: {}, publishes: {}, requests: [], subscribes: [],
});
const benchClient = defineManifest({
  name: 'benchpolicy', kind: 'client', description: 'bench', serves: {}, commands: {}, publishes: {},
  requests: ['policy.decide', 'benchraw.raw'], subscribes: [],
});

const BLOCK = 200;

async function overBus() {
  const bus = await startTestBus([policyManifest, rawEcho, benchClient]);
  try {
    const server = await bus.connect('policy');
    const echo = await bus.connect('benchraw');
    const client = await bus.connect('benchpolicy');
    echo.nc.subscribe('secai.benchraw.raw', { callback: (_err, m) => { m.respond(m.data); } });
    await echo.nc.flush();
    const noop = (): never => { throw new Error('not asked in the benchmark'); };
    // The engine's own decide handler shape: validate, decide, reply (allows are aggregated, not evented).
    serveManifest({
      bus: server, manifest: policyManifest, log: createLogger('bench', 'error'), operators: { lookup: () => undefined }, callers: allowedCallers([policyManifest, rawEcho, benchClient]),
      ops: { decide: (r: { domain: string; input: unknown }) => decide(P, r.domain, r.input), show: noop, section: noop, mint: noop, approve_web: noop, capability_key: noop, ping: noop, describe: noop, snapshot: noop },
      commands: { decide: noop, show: noop, reload: noop, ping: noop },
    });
    await server.nc.flush();
    const req = { domain: 'path_access', input: INPUTS[1]![1] };
    const bytes = encode(req);
    const ours: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < 300; i++) { await client.request('policy', 'decide', req); await client.nc.request('secai.benchraw.raw', bytes); }
    for (let done = 0; done < BUS_ROUNDS; done += BLOCK) {
      for (let i = 0; i < BLOCK; i++) {
        const t0 = process.hrtime.bigint();
        await client.request('policy', 'decide', req);
        ours.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      for (let i = 0; i < BLOCK; i++) {
        const t0 = process.hrtime.bigint();
        await client.nc.request('secai.benchraw.raw', bytes);
        raw.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    }
    return { ours: summarize(ours), raw: summarize(raw) };
  } finally {
    await bus.stop();
  }
}

function baselineLoop(b: Uint8Array): number {
  const CLS = new Uint8Array(256);
  for (let c = 48; c < 123; c++) CLS[c] = 7;
  let words = 0;
  let prev = 0;
  for (let i = 0; i < b.length; i++) {
    const k = CLS[b[i]!]!;
    if (k) { if (!prev) words++; prev = 1; } else prev = 0;
  }
  return words;
}

function throughput() {
  const corpus = makeCorpus(CORPUS_MIB * 1024 * 1024);
  const sc = new Scanner({ maxFindings: 1e9 });
  const mb = corpus.length / (1024 * 1024);
  const ours: number[] = [];
  const base: number[] = [];
  let findings = 0;
  sc.scan(corpus.subarray(0, 4 << 20));
  for (let r = 0; r < 3; r++) {
    let t0 = performance.now();
    findings = sc.scan(corpus).length;
    ours.push(mb / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    baselineLoop(corpus);
    base.push(mb / ((performance.now() - t0) / 1000));
  }
  const best = (xs: number[]) => Math.max(...xs);
  return { mb, findings, ours: best(ours), base: best(base) };
}

const inproc = inProcess();
const onBus = await overBus();
const pii = throughput();

console.log(table([
  ['measure', 'p50 µs', 'p99 µs', 'target'],
  ...inproc.rows.map((r) => [`decide ${r.domain}`, round(r.p50), round(r.p99), 'p99 ≤ 20']),
  ['decide, all domains', round(inproc.all.p50), round(inproc.all.p99), 'p99 ≤ 20'],
  ['decide over the bus', round(onBus.ours.p50), round(onBus.ours.p99), 'p99 ≤ 1000'],
  ['baseline: raw NATS echo (same run)', round(onBus.raw.p50), round(onBus.raw.p99), '-'],
  ['ratio bus / raw', round(onBus.ours.p50 / onBus.raw.p50, 3), round(onBus.ours.p99 / onBus.raw.p99, 3), '-'],
]));
console.log();
console.log(table([
  ['scan', 'MB/s', 'findings', 'target'],
  [`PII scanner, ${pii.mb} MiB mixed text`, round(pii.ours, 1), pii.findings, '≥ 100'],
  ['baseline: bare byte-class loop (same bytes)', round(pii.base, 1), '-', '-'],
]));
const met = inproc.all.p99 <= 20 && onBus.ours.p99 <= 1000 && pii.ours >= 100;
emit({
  bench: 'policy',
  inproc_p50_us: round(inproc.all.p50), inproc_p99_us: round(inproc.all.p99),
  bus_p50_us: round(onBus.ours.p50), bus_p99_us: round(onBus.ours.p99),
  raw_nats_p50_us: round(onBus.raw.p50), raw_nats_p99_us: round(onBus.raw.p99),
  pii_mb_s: round(pii.ours, 1), baseline_loop_mb_s: round(pii.base, 1), ratio: round(pii.ours / pii.base, 3),
  target: { inproc_p99_us: 20, bus_p99_us: 1000, pii_mb_s: 100 }, met,
});
