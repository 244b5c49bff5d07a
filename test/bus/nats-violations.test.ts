// Permission violations as nats-server 2.9 really logs them: parsed from lines the server wrote, identity from the
// nkey (never from the client-chosen name), and a flood reported once per identity+subject per window with a count.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { parseViolation, ViolationReporter, type ViolationLine, type ViolationReport } from '../../bus/nats-violations.js';
import { pickLoopbackPort, startNatsServer, stopProcess } from '../../bus/server.js';
import { homePaths } from '../../common/paths.js';
import { prepareBus } from '../../runtime/bus-setup.js';
import { MANIFESTS } from '../../runtime/catalog.js';

const until = async (cond: () => boolean, what: string, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

t.test('nats violations — a real server logs a refused publish and subscription; both parse to the nkey and subject', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'secai-viol-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const paths = homePaths(home);
  const ids = prepareBus(paths, MANIFESTS, await pickLoopbackPort());
  const seen: ViolationLine[] = [];
  const logFile = join(home, 'nats.log');
  const nats = await startNatsServer({ configPath: paths.busConfig, portsDir: paths.run, logFile, onViolation: (v) => seen.push(v) });
  t.teardown(() => stopProcess(nats.child));
  // A client name that pretends to be a violation by another identity: the line's real tail still decides.
  const vault = ids.get('vault')!.publicKey;
  const gw = await BusClient.connect({ url: nats.url, identity: ids.get('gateway')!, reconnect: false });
  t.teardown(() => gw.close().catch(() => {})); // lint-ok: teardown
  gw.nc.publish('secai.evt.vault.unlocked', new Uint8Array([1]));
  gw.nc.subscribe('secai.vault.unlock');
  await until(() => seen.length >= 2, 'two violations');
  const gateway = ids.get('gateway')!.publicKey;
  t.same(seen.find((v) => v.kind === 'publish'), { kind: 'publish', nkey: gateway, subject: 'secai.evt.vault.unlocked' });
  t.same(seen.find((v) => v.kind === 'subscribe'), { kind: 'subscribe', nkey: gateway, subject: 'secai.vault.unlock' });
  t.match(readFileSync(logFile, 'utf8'), /Publish Violation - Nkey "U[A-Z0-9]+", Subject "secai\.evt\.vault\.unlocked"/, 'the line is still written to nats.log');
  t.not(vault, gateway);
});

t.test('nats violations — a forged violation inside the client name does not match; unrelated lines are ignored', async (t) => {
  const real = '[1] 2026/12/05 09:13:21.548610 [ERR] 127.0.0.1:44730 - cid:4 - "v3.4.0:nats.js:x - Publish Violation - Nkey \\"UVAULT\\", Subject \\"a\\"" - Publish Violation - Nkey "UGATE", Subject "secai.evt.vault.unlocked"';
  t.same(parseViolation(real), { kind: 'publish', nkey: 'UGATE', subject: 'secai.evt.vault.unlocked' });
  const named = '[1] 2026/12/05 09:13:21.548610 [ERR] 127.0.0.1:44730 - cid:4 - "x - Publish Violation - Nkey "UVAULT", Subject "a"" - Authorization Error - Nkey "UGATE"';
  t.equal(parseViolation(named), undefined, 'a name that only looks like a violation, on a line that is not one');
  t.equal(parseViolation('[1] 2026/12/05 09:13:21.548610 [INF] Server is ready'), undefined);
  t.same(parseViolation('[1] d [ERR] 127.0.0.1:1 - cid:9 - "n" - Subscription Violation - Nkey "UX", Subject "secai.>", Queue "q", SID 3'), { kind: 'subscribe', nkey: 'UX', subject: 'secai.>' });
});

t.test('nats violations — a flood is one report per identity+subject+kind per window, with the count', async (t) => {
  let now = 1000;
  const reports: ViolationReport[] = [];
  const r = new ViolationReporter({ identityOf: (k) => (k === 'UGATE' ? 'gateway' : undefined), report: (x) => reports.push(x), windowMs: 60_000, maxKeys: 4, now: () => now });
  t.teardown(() => r.close());
  for (let i = 0; i < 10_000; i++) r.note({ nkey: 'UGATE', subject: 'secai.evt.vault.unlocked', kind: 'publish' });
  t.equal(reports.length, 1, 'the first is reported at once');
  t.same(reports[0], { identity: 'gateway', subject: 'secai.evt.vault.unlocked', kind: 'publish', at: 1000, count: 1 });
  now += 60_000;
  r.flush();
  t.equal(reports.length, 2);
  t.equal(reports[1]!.count, 9_999, 'the rest in one report at the end of the window');
  for (let i = 0; i < 500; i++) r.note({ nkey: 'UGATE', subject: 'secai.evt.vault.unlocked', kind: 'publish' });
  t.equal(reports.length, 2, 'a steady flood: nothing until the window ends');
  r.flush();
  t.equal(reports[2]!.count, 500);
  r.flush();
  t.equal(reports.length, 3, 'a quiet window reports nothing');
  // Many distinct subjects: past maxKeys they fold into one `*` per identity and kind.
  for (let i = 0; i < 1000; i++) r.note({ nkey: 'USTOLEN1234567', subject: `x.${i}`, kind: 'subscribe' });
  const stolen = reports.filter((x) => x.identity === 'unknown:USTOLEN12345');
  t.ok(stolen.length <= 5, `${stolen.length} reports for 1000 subjects`);
  r.flush();
  const folded = reports.filter((x) => x.identity === 'unknown:USTOLEN12345').reduce((n, x) => n + x.count, 0);
  t.equal(folded, 1000, 'every violation is counted');
});
