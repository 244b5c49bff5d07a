// bench:mcp — a tools/call round trip through the MCP firewall (SDK client → streamable HTTP on 127.0.0.1 → the
// firewall's checks, redaction, taint and audit event → the upstream server) against the same SDK client straight to
// the same server program over streamable HTTP, interleaved call by call in one run. Measured twice: with the
// upstream over streamable HTTP (two HTTP hops against one) and over stdio under bubblewrap (how local MCP servers
// run). A third path is the floor: a relay that checks nothing (bench/mcp-relay.ts), in its own process over the same
// transports, so the cost of the extra process hop on this machine is measured beside the firewall's. Then capability
// token mint and verify in process, beside bare Ed25519 sign and verify (libsodium, and Node's OpenSSL).
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

/** The relay process for one upstream; resolves with its URL. */
function startRelay(spec: Record<string, unknown>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import=tsx', join(ROOT, 'bench', 'mcp-relay.ts')], { env: { ...process.env, MCP_RELAY: JSON.stringify(spec) }, stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    child.stdout!.once('data', (d: Buffer) => res({ url: d.toString().trim(), child }));
    child.once('exit', (c) => rej(new Error(`relay exited ${c}`)));
  });
}

interface Run { ours: number[]; relay: number[]; base: number[] }

/** One firewall (bus, policy actor, MCP firewall actor) with one upstream, timed against the relay and the direct HTTP path. */
async function measure(work: string, upstreamUrl: string, server: Record<string, unknown>, relaySpec: Record<string, unknown>): Promise<Run> {
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
  const relayProc = await startRelay(relaySpec);
  actors.push(relayProc.child);
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
    const relayed = await connectClient(relayProc.url);
    if (!(await proxied.listTools()).tools.some((t) => t.name === 'echo')) throw new Error('echo is not exposed through the firewall');
    const args = { text: 'the quick brown fox jumps over the lazy dog' };
    const time = async (c: Client): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const r = await c.callTool({ name: 'echo', arguments: args }) as { content: { text: string }[] };
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      if (r.content[0]?.text !== args.text) throw new Error(`unexpected result ${JSON.stringify(r)}`);
      return us;
    };
    const run: Run = { ours: [], relay: [], base: [] };
    const paths = [['ours', proxied], ['relay', relayed], ['base', direct]] as const;
    for (let i = -WARMUP; i < ROUNDS; i++) {
      // Interleaved, the order rotating: no path always runs on a warmer cache.
      for (let k = 0; k < paths.length; k++) {
        const [key, client] = paths[(i + WARMUP + k) % paths.length]!;
        const us = await time(client);
        if (i >= 0) run[key].push(us);
      }
    }
    await Promise.all([direct.close(), proxied.close(), relayed.close()]);
    return run;
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
const stdioUpstream = { command: process.execPath, args: [FIXTURE], env: { MCP_FIXTURE_CONTROL: control }, readOnly: [join(ROOT, 'node_modules'), join(ROOT, 'test', 'fixtures'), work] };
const runs = {
  http: await measure(work, upstreamUrl, { id: 'bench', transport: 'http', url: upstreamUrl, trust_on_first_use: true, tools: ECHO }, { transport: 'http', url: upstreamUrl }),
  stdio: await measure(work, upstreamUrl, {
    id: 'bench', transport: 'stdio', command: stdioUpstream.command, args: stdioUpstream.args, env: stdioUpstream.env,
    read_only: stdioUpstream.readOnly, trust_on_first_use: true, tools: ECHO,
  }, { transport: 'stdio', ...stdioUpstream }),
};
const tokens = await benchCapabilityTokens();
upstream.kill();
rmSync(work, { recursive: true, force: true });

const rows: (string | number)[][] = [['upstream', 'path', 'p50 µs', 'p99 µs', 'n', 'p50 ratio to direct', 'p99 added ms']];
const figures: Record<string, number> = {};
for (const [name, r] of Object.entries(runs)) {
  const o = summarize(r.ours);
  const f = summarize(r.relay);
  const b = summarize(r.base);
  figures[`${name}_ratio`] = round(o.p50 / b.p50, 3);
  figures[`${name}_added_p99_ms`] = round((o.p99 - b.p99) / 1000, 3);
  figures[`${name}_relay_ratio`] = round(f.p50 / b.p50, 3);
  figures[`${name}_relay_added_p99_ms`] = round((f.p99 - b.p99) / 1000, 3);
  figures[`${name}_over_relay_ratio`] = round(o.p50 / f.p50, 3);
  figures[`${name}_over_relay_p50_us`] = round(o.p50 - f.p50, 0);
  figures[`${name}_ours_p50_us`] = round(o.p50, 0);
  figures[`${name}_relay_p50_us`] = round(f.p50, 0);
  figures[`${name}_base_p50_us`] = round(b.p50, 0);
  rows.push([name, 'client → firewall → server', round(o.p50, 0), round(o.p99, 0), o.n, figures[`${name}_ratio`]!, figures[`${name}_added_p99_ms`]!]);
  rows.push(['', 'client → relay, no checks → server (floor)', round(f.p50, 0), round(f.p99, 0), f.n, figures[`${name}_relay_ratio`]!, figures[`${name}_relay_added_p99_ms`]!]);
  rows.push(['', 'client → server over HTTP (baseline)', round(b.p50, 0), round(b.p99, 0), b.n, '', '']);
}
console.log(table(rows));
for (const name of Object.keys(runs)) {
  console.log(`${name}: the firewall's own cost over the relay, p50 ${figures[`${name}_over_relay_p50_us`]} µs (${figures[`${name}_over_relay_ratio`]}×)`);
}
console.log(`capability tokens in process (n ${tokens.n}), p99 µs, target < 100 each:`);
console.log(table([
  ['operation', 'token', 'bare Ed25519, libsodium', 'bare Ed25519, Node (OpenSSL)'],
  ['mint / sign', tokens.mint_p99_us, tokens.sign_p99_us, tokens.node_sign_p99_us],
  ['verify', tokens.verify_p99_us, tokens.bare_verify_p99_us, tokens.node_verify_p99_us],
]));
const met = (k: string) => figures[`${k}_ratio`]! <= 1.5 && figures[`${k}_added_p99_ms`]! < 2;
emit({
  bench: 'mcp', ...figures, target: 1.5, added_target_ms: 2, http_met: met('http'), stdio_met: met('stdio'),
  ...tokens, token_target_us: 100, tokens_met: tokens.mint_p99_us < 100 && tokens.verify_p99_us < 100,
  bare_verify_reaches_target: tokens.bare_verify_p99_us < 100 || tokens.node_verify_p99_us < 100,
});
