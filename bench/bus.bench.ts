// bench:bus — request/reply through our bus layer vs raw @nats-io/transport-node on the same server,
// interleaved in one run; then cold start of `secai up --headless` and the idle appliance's PSS.
import { allowedCallers } from '../bus/acl.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineManifest } from '../bus/manifest.js';
import { s } from '../bus/schema.js';
import { serveOp } from '../bus/op-ref.js';
import { serveManifest } from '../bus/service.js';
import { encode } from '../bus/codec.js';
import { createLogger } from '../common/log.js';
import { startTestBus } from '../test/helpers/bus.js';
import { processTree } from '../actors/supervisor/proc-view.js';
import { until } from '../test/helpers/until.js';
import { emit, round, summarize, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4000);
const BLOCK = 200;

const echoReq = s.object({ id: s.integer(), text: s.string({ maxLength: 256 }), tags: s.array(s.string({ maxLength: 16 }), 8) });
const benchActor = defineManifest({
  name: 'benchecho', kind: 'actor', description: 'bench', entry: 'none.js',
  serves: { echo: { request: echoReq, reply: echoReq, description: 'echo' }, raw: { request: s.any(), reply: s.any(), description: 'raw baseline' } },
  commands: {}, publishes: {}, requests: [], subscribes: [],
});
/** Ours is the typed call: the reply is checked against its schema, as every caller's is. */
const echoOp = serveOp(benchActor, 'echo');
const benchClient = defineManifest({
  name: 'benchclient', kind: 'client', description: 'bench', serves: {}, commands: {}, publishes: {},
  requests: ['benchecho.echo', 'benchecho.raw'], subscribes: [],
});

/** Standard ops the benchmark never asks. */
const unused = (): never => { throw new Error('not asked in the benchmark'); };

async function rpc(): Promise<{ ours: ReturnType<typeof summarize>; raw: ReturnType<typeof summarize> }> {
  const bus = await startTestBus([benchActor, benchClient]);
  try {
    const server = await bus.connect('benchecho');
    const client = await bus.connect('benchclient');
    // Our layer serves only `echo`; `raw` is answered below by a bare subscription.
    const { raw: _raw, ...oursOnly } = benchActor.serves;
    serveManifest({ bus: server, manifest: { ...benchActor, serves: oursOnly }, ops: { echo: (r) => r, ping: unused, describe: unused, snapshot: unused }, commands: { ping: unused }, operators: { lookup: () => undefined }, log: createLogger('bench', 'error'), callers: allowedCallers([benchActor, benchClient]) });
    // The raw baseline: the same server, the same permitted subject shape, a responder that echoes bytes.
    const rawSub = server.nc.subscribe('secai.benchecho.raw');
    void (async () => { for await (const m of rawSub) m.respond(m.data); })();
    await server.nc.flush();
    const payload = { id: 1, text: 'x'.repeat(24), tags: ['a', 'b'] }; // ~64 bytes of msgpack
    const bytes = encode(payload);
    const ours: number[] = [];
    const raw: number[] = [];
    const rawClient = client;
    for (let i = 0; i < 300; i++) { await client.call(echoOp, payload); await rawClient.nc.request('secai.benchecho.raw', bytes); }
    for (let done = 0; done < ROUNDS; done += BLOCK) {
      for (let i = 0; i < BLOCK; i++) {
        const t0 = process.hrtime.bigint();
        await client.call(echoOp, payload);
        ours.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      for (let i = 0; i < BLOCK; i++) {
        const t0 = process.hrtime.bigint();
        await rawClient.nc.request('secai.benchecho.raw', bytes);
        raw.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    }
    return { ours: summarize(ours), raw: summarize(raw) };
  } finally {
    await bus.stop();
  }
}

function pssKb(pid: number): number {
  const f = `/proc/${pid}/smaps_rollup`;
  if (!existsSync(f)) return 0;
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(f, 'utf8'));
  return m ? Number(m[1]) : 0;
}

const WARM_STARTS = 5;

async function coldStart(): Promise<{ readyMs: number; allMs: number[]; pssMb: number; processes: number }> {
  const home = mkdtempSync(join(tmpdir(), 'secai-bench-'));
  const bin = join(import.meta.dirname, '..', 'dist', 'bin', 'secai.js');
  try {
    // The first start creates keys and streams and the integrity monitor's first baseline (it hashes every watched
    // file once); it is left to finish. The figure is the median of the warm-disk starts after it, as a user sees daily.
    const allMs: number[] = [];
    for (let run = 0; run <= WARM_STARTS; run++) {
      const t0 = performance.now();
      const child = spawn(process.execPath, [bin, 'up', '--headless'], { env: { ...process.env, SECAI_HOME: home, SECAI_HTTP_PORT: '0', SECAI_LOG_JSON: '1', SECAI_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
      const readyMs = await new Promise<number>((res, rej) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => { out += d; if (out.includes('secai ready:')) res(performance.now() - t0); });
        child.once('exit', (c) => rej(new Error(`secai up exited ${c}`)));
      });
      if (run === 0) await until('the first integrity baseline', () => existsSync(join(home, 'integrity', 'baseline.json')), 120_000);
      else allMs.push(readyMs);
      const last = run === WARM_STARTS;
      if (last) await new Promise((r) => setTimeout(r, 3000)); // idle
      const pids = last ? processTree(child.pid!) : [];
      const pssMb = pids.reduce((a, p) => a + pssKb(p), 0) / 1024;
      await new Promise<void>((res) => { child.once('exit', () => res()); child.kill('SIGTERM'); });
      if (last) return { readyMs: [...allMs].sort((a, b) => a - b)[Math.floor(allMs.length / 2)]!, allMs, pssMb, processes: pids.length };
    }
    throw new Error('unreachable');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

// The machine's floor for the same start: one Node process per actor bundle, all at once, each only
// parsing its bundle (`node --check`), no bus, no keys, no waiting on each other. On 2 cores this
// floor alone is a large part of the cold start; the ratio says how much the appliance adds to it.
async function processFloor(): Promise<number> {
  const root = join(import.meta.dirname, '..', 'dist', 'actors');
  const bundles = readdirSync(root).map((a) => join(root, a, 'main.js')).filter((f) => existsSync(f));
  const t0 = performance.now();
  await Promise.all(bundles.map((f) => new Promise<void>((res, rej) => {
    const c = spawn(process.execPath, ['--check', f], { stdio: 'ignore' });
    c.once('exit', (code) => (code === 0 ? res() : rej(new Error(`node --check ${f} exited ${code}`))));
  })));
  return performance.now() - t0;
}

const r = await rpc();
const ratio = r.ours.p50 / r.raw.p50;
const cs = await coldStart();
const floorMs = await processFloor();
console.log(table([
  ['request/reply (µs)', 'p50', 'p99', 'mean', 'n'],
  ['ours (codec+schema+service)', round(r.ours.p50, 1), round(r.ours.p99, 1), round(r.ours.mean, 1), r.ours.n],
  ['raw transport-node', round(r.raw.p50, 1), round(r.raw.p99, 1), round(r.raw.mean, 1), r.raw.n],
]));
console.log(`ratio ours/raw at p50: ${round(ratio, 3)} (target ≤ 1.15)`);
console.log(`cold start of secai up --headless to ready: median ${Math.round(cs.readyMs)} ms of ${cs.allMs.length} warm starts (${cs.allMs.map(Math.round).join(', ')}) (target < 3000)`);
console.log(`floor on this machine (one node --check per actor bundle, all at once): ${Math.round(floorMs)} ms; cold start / floor ${round(cs.readyMs / floorMs, 2)}`);
console.log(`idle appliance PSS: ${round(cs.pssMb, 1)} MB over ${cs.processes} processes (target < 600)`);
emit({
  bench: 'bus', ours_p50_us: round(r.ours.p50, 1), base_p50_us: round(r.raw.p50, 1), ours_p99_us: round(r.ours.p99, 1), base_p99_us: round(r.raw.p99, 1),
  ratio: round(ratio, 3), target: 1.15, cold_start_ms: Math.round(cs.readyMs), cold_start_runs_ms: cs.allMs.map(Math.round), cold_start_target_ms: 3000, process_floor_ms: Math.round(floorMs), cold_over_floor: round(cs.readyMs / floorMs, 2), pss_mb: round(cs.pssMb, 1), pss_target_mb: 600,
  met: ratio <= 1.15 && cs.readyMs < 3000 && cs.pssMb < 600,
});
