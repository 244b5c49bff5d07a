import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startAppliance } from '../helpers/appliance.js';
import { rmSync } from 'node:fs';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

t.test('supervisor — SIGTERM stops every actor and the bus, exits 0, and leaves no pid files', async (t) => {
  const a = await startAppliance();
  t.teardown(() => rmSync(a.home, { recursive: true, force: true }));
  t.match(a.output(), /secai ready: \d+ actors on nats:\/\/127\.0\.0\.1:\d+, API on http:\/\/127\.0\.0\.1:\d+/);
  const st = a.ctl(['status', '--json']).json() as { appliance: { bus: { pid: number } }; actors: { pid: number }[] };
  const pids = [st.appliance.bus.pid, ...st.actors.map((x) => x.pid)];
  t.ok(pids.every(alive), 'all running');
  t.equal(await a.stop(), 0, 'exit code 0');
  t.ok(pids.every((p) => !alive(p)), 'no actor or nats-server left behind');
  t.notOk(existsSync(join(a.home, 'run', 'secai.pid')));
  t.notOk(existsSync(join(a.home, 'run', 'nats.pid')));
});

t.test('supervisor — a second appliance on the same home is refused', async (t) => {
  const a = await startAppliance();
  t.teardown(async () => { await a.stop(); rmSync(a.home, { recursive: true, force: true }); });
  await t.rejects(startAppliance({ home: a.home, timeoutMs: 15_000 }), /already runs/);
});
