// bench:mcp — a tools/call round trip through the MCP firewall (SDK client → streamable HTTP on 127.0.0.1 → the
// firewall's checks, redaction, taint and audit event → the upstream server) against the same SDK client straight to
// the same server program over streamable HTTP, interleaved call by call in one run. Measured twice: with the
// upstream over streamable HTTP (two HTTP hops against one) and over stdio under bubblewrap (how local MCP servers
// run). Then capability token mint and verify in process.
// Targets: p50 ratio ≤ 1.5, p99 added < 2 ms; token mint and verify p99 < 100 µs each.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parse, stringify } from 'yaml';
import { defineManifest } from '../bus/manifest.js';
import { mcpFirewallManifest, policyManifest, supervisorManifest } from '../runtime/catalog.js';
import { startTestBus } from '../test/helpers/bus.js';
import { benchCapabilityTokens } from './capability-tokens.js';
import { emit, round, summarize, table } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3000);
const WARMUP = 300;
const FIXTURE = join(ROOT, 'test', 'fixtures', 'mcp-server.mjs');
const ECHO = [{ name: 'echo', decision: 'allow', read_only: true, sink: 'none', taint: [] }];

function startActorProcess(name: string, env: Record<string, string>): Promise<ChildProcess> {
  const prof = process.env.BENCH_PROF && name === 'mcp-firewall' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, '--import=tsx', join(ROOT, 'actors', name, 'main.ts')], { env: { ...process.env, SECAI_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((res, rej) => {
    child.on('message', (m: { type?: string }) => { if (m?.type === 'ready') res(child); });
    child.once('exit', (c) => rej(new Error(`${name} exited ${c}`)));
  });
}

async function connectClient(url: string, token?: string): Promise<Client> {
  const c = new Client({ name: 'bench', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(url), token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : {}));
  return c;
}

/** One firewall (bus, policy actor, MCP firewall actor) with one upstream, timed against the direct HTTP path. */
async function measure(work: string, upstreamUrl: string, server: Record<string, unknown>): Promise<{ ours: number[]; base: number[] }> {
  const probe = defineManifest({ name: 'benchop', kind: 'client', description: 'bench', serves: {}, commands: {}, publishes: {}, requests: ['mcp-firewall.status'], subscribes: [] });
  const bus = await startTestBus([supervisorManifest, probe, policyManifest, mcpFirewallManifest], { streams: true });
  const configDir = mkdtempSync(join(work, 'config-'));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(configDir, f));
  const policy = parse(readFileSync(join(configDir, 'policy.yaml'), 'utf8'));
  policy.mcp.enabled = true;
  policy.mcp.rate = { capacity: 100000, refill_per_sec: 100000 };
  policy.mcp.servers = [server];
  writeFileSync(join(configDir, 'policy.yaml'), stringify(policy));
  const env = { SECAI_BUS_URL: bus.url, SECAI_HOME: bus.paths.home, SECAI_CONFIG: configDir, SECAI_MCP_PORT: '0' };
  const actors = [await startActorProcess('policy', env), await startActorProcess('mcp-firewall', env)];
  try {
    const op = await bus.connect('benchop');
    let url = '';
    for (let i = 0; i < 300 && !url; i++) {
      const s = await op.request<{ url: string | null; servers: { status: string }[] }>('mcp-firewall', 'status');
      if (s.url && s.servers.every((x) => x.status === 'ready')) url = s.url;
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (!url) throw new Error('the MCP firewall did not become ready');
    const direct = await connectClient(upstreamUrl);
    const proxied = await connectClient(url, readFileSync(bus.paths.mcpClientToken, 'utf8').trim());
    if (!(await proxied.listTools()).tools.some((t) => t.name === 'echo')) throw new Error('echo is not exposed through the firewall');
    const args = { text: 'the quick brown fox jumps over the lazy dog' };
    const time = async (c: Client): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const r = await c.callTool({ name: 'echo', arguments: args }) as { content: { text: string }[] };
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      if (r.content[0]?.text !== args.text) throw new Error(`unexpected result ${JSON.stringify(r)}`);
      return us;
    };
    const ours: number[] = [];
    const base: number[] = [];
    for (let i = -WARMUP; i < ROUNDS; i++) {
      // Interleaved, the order alternating: neither side always runs on a warmer cache.
      let o: number, d: number;
      if (i % 2) { o = await time(proxied); d = await time(direct); } else { d = await time(direct); o = await time(proxied); }
      if (i >= 0) { ours.push(o); base.push(d); }
    }
    await Promise.all([direct.close(), proxied.close()]);
    return { ours, base };
  } finally {
    for (const a of actors) a.kill('SIGTERM');
    await Promise.all(actors.map((a) => new Promise((r) => (a.exitCode !== null ? r(null) : a.once('exit', r)))));
    await bus.stop();
  }
}

const work = mkdtempSync(join(tmpdir(), 'secai-bench-mcp-'));
const control = join(work, 'control.json');
writeFileSync(control, JSON.stringify({ tools: ['echo'] }));
const upstream = spawn(process.execPath, [FIXTURE, '--http'], { env: { ...process.env, MCP_FIXTURE_CONTROL: control }, stdio: ['pipe', 'pipe', 'inherit'] });
const upstreamUrl = await new Promise<string>((r) => upstream.stdout!.once('data', (d: Buffer) => r(d.toString().trim())));
const runs = {
  http: await measure(work, upstreamUrl, { id: 'bench', transport: 'http', url: upstreamUrl, trust_on_first_use: true, tools: ECHO }),
  stdio: await measure(work, upstreamUrl, {
    id: 'bench', transport: 'stdio', command: process.execPath, args: [FIXTURE], env: { MCP_FIXTURE_CONTROL: control },
    read_only: [join(ROOT, 'node_modules'), join(ROOT, 'test', 'fixtures'), work], trust_on_first_use: true, tools: ECHO,
  }),
};
const tokens = await benchCapabilityTokens();
upstream.kill();
rmSync(work, { recursive: true, force: true });

const rows: (string | number)[][] = [['upstream', 'path', 'p50 µs', 'p99 µs', 'n', 'p50 ratio', 'p99 added ms']];
const figures: Record<string, number> = {};
for (const [name, r] of Object.entries(runs)) {
  const o = summarize(r.ours);
  const b = summarize(r.base);
  figures[`${name}_ratio`] = round(o.p50 / b.p50, 3);
  figures[`${name}_added_p99_ms`] = round((o.p99 - b.p99) / 1000, 3);
  figures[`${name}_ours_p50_us`] = round(o.p50, 0);
  figures[`${name}_base_p50_us`] = round(b.p50, 0);
  rows.push([name, 'client → firewall → server', round(o.p50, 0), round(o.p99, 0), o.n, figures[`${name}_ratio`]!, figures[`${name}_added_p99_ms`]!]);
  rows.push(['', 'client → server over HTTP (baseline)', round(b.p50, 0), round(b.p99, 0), b.n, '', '']);
}
console.log(table(rows));
console.log(`capability tokens in process: mint p99 ${tokens.mint_p99_us} µs, verify p99 ${tokens.verify_p99_us} µs (target < 100 each, n ${tokens.n})`);
const met = (k: string) => figures[`${k}_ratio`]! <= 1.5 && figures[`${k}_added_p99_ms`]! < 2;
emit({
  bench: 'mcp', ...figures, target: 1.5, added_target_ms: 2, http_met: met('http'), stdio_met: met('stdio'),
  mint_p99_us: tokens.mint_p99_us, verify_p99_us: tokens.verify_p99_us, token_target_us: 100, tokens_met: tokens.mint_p99_us < 100 && tokens.verify_p99_us < 100,
});
