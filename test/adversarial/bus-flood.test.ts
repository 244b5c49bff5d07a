// Attacker without credentials on the same machine floods the bus port with raw TCP sockets while an actor dies:
// the actor must come back, `securectl status` must answer, and nats.log must stay bounded (also under failed logins).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { disposeAppliance, SECURECTL_BIN, startAppliance, type Appliance } from '../helpers/appliance.js';
import { startFlood } from '../helpers/conn-flood.js';

/** More sockets than the 256 slots the bus had: with slots that cheap, these alone lock everyone out. */
const CONCURRENCY = 400;
const FLOOD_MS = 40_000;
const LOG_BOUND = 1024 * 1024;

interface StatusActor { name: string; pid: number; ready: boolean; restarts: number }

/** securectl as its own process, awaited without blocking this test's event loop. */
function ctl(a: Appliance, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SECURECTL_BIN, ...args], { env: a.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

function logBytes(home: string): number {
  const file = join(home, 'bus', 'nats.log');
  return [file, `${file}.1`].filter((f) => existsSync(f)).reduce((n, f) => n + statSync(f).size, 0);
}

t.test('bus flood — an actor killed during a flood of unauthenticated sockets comes back, securectl status answers, and failed logins by the thousand leave nats.log bounded', async (t) => {
  const a = await startAppliance({ timeoutMs: 60_000 });
  t.teardown(() => disposeAppliance(a));
  const before = await ctl(a, ['status', '--json'], 30_000);
  t.equal(before.code, 0, 'securectl status answers before the flood', { stderr: before.stderr });
  const victim = (JSON.parse(before.stdout) as { actors: StatusActor[] }).actors.find((x) => x.name === 'policy');
  if (!victim) throw new Error(`no policy actor in ${before.stdout}`);
  t.ok(victim.ready && victim.pid > 0, 'the victim runs before the flood');
  const logBefore = logBytes(a.home);

  const flood = startFlood({ port: Number(new URL(a.busUrl).port), concurrency: CONCURRENCY, durationMs: FLOOD_MS, maxAttempts: 2_000_000 });
  t.teardown(() => { flood.stop(); });
  let floodRunning = true;
  const floodDone = flood.done.finally(() => { floodRunning = false; });
  await flood.started;
  // Let the attacker reach its steady state (every socket opened at least once and dropped or refused).
  await new Promise((r) => setTimeout(r, 1500));

  process.kill(victim.pid, 'SIGKILL');
  // Bounded: the flood stops by itself after FLOOD_MS; each status call is bounded too.
  let back: StatusActor | undefined;
  let lastErr = '';
  while (floodRunning && !back) {
    const r = await ctl(a, ['status', '--json'], 15_000);
    if (r.code === 0) {
      const now = (JSON.parse(r.stdout) as { actors: StatusActor[] }).actors.find((x) => x.name === 'policy');
      if (now && now.ready && now.restarts >= 1 && now.pid !== victim.pid) back = now;
    } else lastErr = r.stdout + r.stderr;
    if (!back) await new Promise((r) => setTimeout(r, 250));
  }
  t.ok(floodRunning, 'the flood was still running when securectl status answered');
  t.ok(back, `the killed actor was restarted and ready again, seen through securectl status, during the flood (last error: ${lastErr.trim()})`);

  // Still under attack: a second status answers too.
  const during = await ctl(a, ['status', '--json'], 15_000);
  t.equal(during.code, 0, 'securectl status answers during the flood', { stderr: during.stderr, stdout: during.stdout.slice(0, 2000) });
  t.ok(floodRunning, 'the flood was still running for the second status');

  flood.stop();
  const stats = await floodDone;
  t.ok(stats.attempts >= CONCURRENCY, `the attacker opened ${stats.attempts} connections in ${stats.ms} ms`);
  const grown = logBytes(a.home) - logBefore;
  t.ok(grown < LOG_BOUND, `nats.log grew by ${grown} bytes during the flood (bound ${LOG_BOUND})`);
  t.comment(`flood: ${stats.attempts} connections, ${Math.round((stats.attempts / stats.ms) * 1000)}/s, ${stats.refusedOrDropped} dropped; nats.log +${grown} B`);

  // Second attacker: failed logins, each of which nats-server logs as an error line.
  const logins = startFlood({ port: Number(new URL(a.busUrl).port), concurrency: 200, durationMs: 6000, maxAttempts: 30_000, badConnect: true });
  const loginStats = await logins.done;
  const after = await ctl(a, ['status', '--json'], 15_000);
  t.equal(after.code, 0, 'securectl status answers after the failed logins', { stderr: after.stderr });
  const file = join(a.home, 'bus', 'nats.log');
  // The summary of suppressed lines is written when its 10 s window closes: wait for it (bounded).
  const summary = /\d+ more per-connection lines not written .*authentication error/;
  let text = readFileSync(file, 'utf8');
  for (let i = 0; i < 80 && !summary.test(text); i++) {
    await new Promise((r) => setTimeout(r, 250));
    text = readFileSync(file, 'utf8');
  }
  const grownLogins = logBytes(a.home) - logBefore;
  t.ok(loginStats.attempts > 1000, `${loginStats.attempts} failed logins in ${loginStats.ms} ms`);
  t.ok(grownLogins < LOG_BOUND, `nats.log grew by ${grownLogins} bytes for ${loginStats.attempts} failed logins (bound ${LOG_BOUND})`);
  t.match(text, /\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error/, 'failed logins are still visible in the log');
  t.match(text, summary, 'and the rest are counted, not dropped silently');
});
