import t from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIFFUSION_WORKER_ENTRY, killWorker, spawnWorker } from '../../workers/sandbox.js';
import { until } from '../helpers/until.js';

const probe = join(import.meta.dirname, '..', 'fixtures', 'net-probe.mjs');

interface Report {
  interfaces: string[];
  tcpLoopbackHost: string; tcpInternet: string; udpInternet: string; udpLoopbackHost: string;
  etcPasswd: string; hostHome: string; env: string[];
}

function runProbe(args: string[], o: { allowUnsandboxed?: boolean; bwrapPath?: string } = {}): Promise<{ report: Report; sandboxed: boolean }> {
  const w = spawnWorker({ entry: probe, args, ...o });
  return new Promise((resolve, reject) => {
    w.child.once('message', (m) => resolve({ report: m as Report, sandboxed: w.sandboxed }));
    w.child.once('exit', (code) => reject(new Error(`probe exited ${code}`)));
  });
}

t.test('worker sandbox — no network: only lo, no TCP or UDP to the host loopback or the internet', async (t) => {
  // Something really listens on the host's loopback: a sandbox that shared the network namespace would reach it.
  const server = createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const udpServer = createSocket('udp4');
  let udpReceived = 0;
  udpServer.on('message', () => udpReceived++);
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => udpServer.bind(port, '127.0.0.1', r));
  let accepted = 0;
  server.on('connection', () => accepted++);
  t.teardown(() => { server.close(); udpServer.close(); });

  const home = mkdtempSync(join(tmpdir(), 'secai-probe-home-'));
  const secret = join(home, 'secret.txt');
  writeFileSync(secret, 'host secret');
  const { report, sandboxed } = await runProbe([String(port), secret]);
  t.ok(sandboxed, 'bubblewrap is available here, so the probe ran sandboxed');
  t.same(report.interfaces, ['lo'], 'the only interface is the sandbox\'s own lo');
  t.match(report.tcpLoopbackHost, /^error:/, 'TCP to a port listening on the host loopback fails');
  t.match(report.tcpInternet, /^error:/, 'TCP to 1.1.1.1 fails');
  t.match(report.udpInternet, /^error:/, 'UDP to 1.1.1.1 fails');
  t.equal(accepted, 0, 'the host listener saw no connection');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(udpReceived, 0, 'the host UDP socket received nothing');
  t.equal(report.etcPasswd, 'error:ENOENT', 'host /etc is not visible');
  t.equal(report.hostHome, 'error:ENOENT', 'a host file outside the binds is not visible');
  t.notOk(report.env.some((k) => /^SECAI_|TOKEN|KEY|SECRET/.test(k)), `cleared environment: ${report.env.join(',')}`);
});

t.test('worker sandbox — fails closed when bubblewrap cannot create namespaces', async (t) => {
  t.throws(() => spawnWorker({ entry: probe, args: ['1'], bwrapPath: '/nonexistent/bwrap' }), { code: 'SECAI_E_SANDBOX_UNAVAILABLE' });
});

t.test('worker sandbox — the unsandboxed development mode runs only when policy allows it, and says so', async (t) => {
  const { report, sandboxed } = await runProbe(['1'], { bwrapPath: '/nonexistent/bwrap', allowUnsandboxed: true });
  t.equal(sandboxed, false, 'reported as unsandboxed');
  t.notOk(report.env.some((k) => /^SECAI_/.test(k)), 'the environment is still cleared');
});

/** The processes whose command line carries `marker` now (bubblewrap's inner processes are forks: they keep its argv). */
function processesMarked(marker: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(marker)) pids.push(Number(d));
    } catch { /* lint-ok: the process exited between the listing and the read */ }
  }
  return pids;
}

t.test('worker sandbox — a worker killed while bubblewrap still sets up its sandbox leaves no process behind', async (t) => {
  // A kill that reached only the outer bwrap, before the inner one had set --die-with-parent, left the inner one
  // running, parentless (15 of 40 kills at these moments, before the fix). Every kill here lands in those first moments.
  const marker = `secai-kill-probe-${randomBytes(8).toString('hex')}`;
  t.teardown(() => { for (const p of processesMarked(marker)) try { process.kill(p, 'SIGKILL'); } catch { /* lint-ok: gone */ } });
  for (let i = 0; i < 24; i++) {
    const w = spawnWorker({ entry: DIFFUSION_WORKER_ENTRY, args: [marker] });
    t.ok(w.sandboxed, 'a sandboxed worker');
    await once(w.child, 'spawn');
    await new Promise((r) => setTimeout(r, i % 8));
    const exit = once(w.child, 'exit');
    killWorker(w);
    await exit;
  }
  const left = await until('every process of the killed sandboxes gone', () => processesMarked(marker).length === 0 && 'none', 20_000,
    () => processesMarked(marker).map((p) => `${p}: ${readFileSync(`/proc/${p}/stat`, 'utf8').slice(0, 80)}`).join('\n'));
  t.equal(left, 'none');
});
