// E2E: the Machines page in real chromium draws a quarantine job's own machine and watches it move through the stages to promoted.
import t from 'tap';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { homePaths } from '../../common/paths.js';
import { createLogger } from '../../common/log.js';
import { observeRoutes } from '../../actors/gateway/routes/observe.js';
import { systemRoutes } from '../../actors/gateway/routes/system.js';
import { uiRoutes } from '../../actors/gateway/routes/ui.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { openBrowser } from '../helpers/browser.js';
import { serveRoutes } from '../helpers/route-server.js';
import { standInSession } from '../helpers/session-stand-in.js';
import { encodeTinyLlama } from '../fixtures/tiny-llama.js';

const a = await startAppliance({ env: { SECAI_QUARANTINE_SETTLE_MS: '200' }, timeoutMs: 120_000 });
const paths = homePaths(a.home);
// The gateway's own routes, under the gateway's bus identity and ACL, on the appliance's real bus.
const bus = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });
const session = standInSession();
const deps = { bus, log: createLogger('gateway-test'), paths, configDir: a.env.SECAI_CONFIG ?? 'policy' };
const srv = await serveRoutes([session.statusRoute, ...systemRoutes(deps), ...observeRoutes(deps), ...uiRoutes({ headless: false })], session.guard);
const b = await openBrowser();
t.teardown(async () => {
  await b.close();
  await srv.close();
  await bus.close();
  await disposeAppliance(a);
});

/** Drops a file the way a browser does: written under a hidden name, then renamed into place. */
function drop(name: string, bytes: Uint8Array): void {
  const incoming = join(a.home, 'quarantine', 'incoming');
  mkdirSync(incoming, { recursive: true });
  writeFileSync(join(incoming, `.${name}.part`), bytes);
  renameSync(join(incoming, `.${name}.part`), join(incoming, name));
}

t.test('ui — machines: a quarantine job is drawn with its own machine and seen moving through the stages to promoted', async (t) => {
  await b.context.addCookies([{ ...session.cookie, domain: new URL(srv.url).hostname, path: '/', httpOnly: true, sameSite: 'Strict' }]);
  await b.context.addInitScript(session.seedScript);
  await b.page.goto(`${srv.url}/machines`);
  const quarantine = b.page.locator('article[data-actor="quarantine"]');
  await quarantine.locator('svg.statechart').first().waitFor();

  // describe (what /api/machines passes on) carries the job machine's graph: one state per stage, and every ending.
  const described = await bus.request<{ children?: { job?: { graph?: unknown } } }>('quarantine', 'describe', {}, 10_000);
  const ids = JSON.stringify(described.children?.job?.graph ?? null);
  for (const s of ['job.downloading', 'job.queued', 'job.scanning.source', 'job.scanning.static_scan', 'job.promoted', 'job.cancelled']) t.ok(ids.includes(`"${s}"`), `the job graph has ${s}`);
  await quarantine.getByText('No job since this page opened').waitFor();
  // The live stream first, so every transition the import causes is seen.
  await b.page.getByTestId('live').getByText('live').waitFor();

  drop('watched.gguf', encodeTinyLlama());
  const job = quarantine.locator('article.job').filter({ hasText: 'watched.gguf' });
  await job.waitFor({ timeout: 60_000 });
  t.pass('the job appears with its own machine while it runs');
  await job.locator('svg.statechart g.state[data-state="job.scanning.format"]').waitFor();
  await quarantine.locator('article.job[data-job-state="promoted"]', { hasText: 'watched.gguf' }).waitFor({ timeout: 240_000 });
  const seen = await job.locator('ol.job-seen li').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
  const stages = seen.filter((s): s is string => !!s && s.startsWith('scanning.'));
  t.ok(stages.length >= 2, `seen in at least two stages: ${seen.join(' → ')}`);
  const order = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion'];
  const idx = stages.map((s) => order.indexOf(s.slice('scanning.'.length)));
  t.same(idx, [...idx].sort((x, y) => x - y), 'stages seen in pipeline order');
  t.ok(idx.every((i) => i >= 0), 'only real stages');
  t.equal(seen[seen.length - 1], 'promoted', 'it ends promoted');
  await job.locator('g.state.active[data-state="job.promoted"]').waitFor();
  t.equal(await job.getByTestId('job-state').textContent(), 'promoted');
  await b.shot('machines-quarantine-job');
});
