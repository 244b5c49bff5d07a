// E2E: the Machines visualizer and the Audit tap in real chromium, watching a signed `securectl audit verify` on a real appliance.
import t from 'tap';
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

const a = await startAppliance();
const paths = homePaths(a.home);
// The gateway's own routes, under the gateway's own bus identity and ACL, on the appliance's real bus.
const bus = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });

// Stand-in session guard (cookie + proof header), shaped like the auth actor's: it admits this test's browser only.
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

const host = new URL(srv.url).hostname;

t.test('ui — without a session the browser sees the sign-in page and the session API is refused', async (t) => {
  await b.page.goto(`${srv.url}/machines`);
  await b.page.getByRole('heading', { name: 'Sign in' }).waitFor();
  t.equal(await b.page.evaluate(async () => (await fetch('/api/machines')).status), 401);
  await b.shot('login');
});

t.test('ui — machines: every actor drawn, the audit actor moves through verifying on a signed securectl command', async (t) => {
  await b.context.addCookies([{ ...session.cookie, domain: host, path: '/', httpOnly: true, sameSite: 'Strict' }]);
  // The session proof, where login would have left it (this tab's sessionStorage): the cookie alone is not a session.
  await b.context.addInitScript(session.seedScript);
  await b.page.goto(`${srv.url}/machines`);
  const audit = b.page.locator('article[data-actor="audit"]');
  await audit.locator('svg.statechart').waitFor();
  await b.page.locator('article[data-actor="gateway"] svg.statechart').waitFor();
  for (const s of ['following', 'verifying', 'broken']) t.equal(await audit.locator(`g.state[data-state="audit.${s}"]`).count(), 1, `state ${s} drawn`);
  t.ok(await audit.locator('g.transition text', { hasText: 'audit.verify' }).count() >= 1, 'transition labelled audit.verify');
  // Wait for the live stream before acting, so the transitions it causes are seen.
  await b.page.getByTestId('live').getByText('live').waitFor();

  const v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 0, v.stderr);
  const row = audit.locator('tr[data-event="audit.verify"][data-state="verifying"]');
  await row.waitFor({ timeout: 15_000 });
  t.pass('the transition caused by audit.verify is listed, into verifying');
  await audit.locator('tr[data-state="following"]').first().waitFor({ timeout: 15_000 });
  await audit.locator('g.state.active[data-state="audit.following"]').waitFor();
  t.equal(await audit.getByTestId('current-state').textContent(), 'following', 'current state highlighted after verification');
  await b.shot('machines');
});

t.test('ui — audit tap: shows the signed command, filters by pattern and actor, verifies now', async (t) => {
  await b.page.getByRole('link', { name: 'Audit tap' }).click();
  await b.page.getByRole('heading', { name: 'Audit tap' }).waitFor();
  const cmdRow = b.page.locator('tr[data-subject="secai.cmd.audit.verify"]');
  await cmdRow.first().waitFor({ timeout: 15_000 });
  t.pass('secai.cmd.audit.verify appears in the tap');

  await b.page.getByLabel('Subject pattern').fill('secai.cmd.>');
  t.ok(await cmdRow.count() >= 1, 'command still shown under secai.cmd.>');
  t.equal(await b.page.locator('tbody tr:not([data-subject^="secai.cmd."])').count(), 0, 'only commands shown');
  await b.page.getByLabel('Subject pattern').fill('secai.evt.*.chain_verified');
  t.equal(await cmdRow.count(), 0, 'command filtered out');
  await b.page.getByLabel('Subject pattern').fill('');
  await b.page.getByLabel('Actor').selectOption('audit');
  t.equal(await b.page.locator('tbody tr:not([data-subject*=".audit."])').count(), 0, 'only the audit actor');

  await b.page.getByRole('button', { name: 'Verify now' }).click();
  await b.page.getByTestId('chain-verdict').getByText(/intact: \d+ records/).waitFor({ timeout: 15_000 });
  t.pass('verify-now reports the chain intact');
  await b.shot('audit');
});

t.test('ui — keyboard: skip link first, then the navigation', async (t) => {
  await b.page.goto(`${srv.url}/audit`);
  await b.page.getByRole('heading', { name: 'Audit tap' }).waitFor();
  await b.page.keyboard.press('Tab');
  t.equal(await b.page.evaluate('document.activeElement?.textContent'), 'Skip to content');
  await b.page.keyboard.press('Tab');
  t.equal(await b.page.evaluate('document.activeElement?.textContent'), 'Machines');
  await b.page.keyboard.press('Enter');
  await b.page.getByRole('heading', { name: 'Machines' }).waitFor();
  t.equal(new URL(b.page.url()).pathname, '/machines');
  t.equal(await b.page.evaluate('document.activeElement?.id'), 'machines-h', 'focus moves to the new page heading');
});

t.test('ui — security: every actor with its health and restarts', async (t) => {
  await b.page.getByRole('link', { name: 'Security' }).click();
  await b.page.getByRole('heading', { name: 'Security' }).waitFor();
  for (const name of ['audit', 'gateway']) {
    const row = b.page.locator(`tr[data-actor="${name}"]`);
    await row.waitFor();
    t.equal(await row.getByTestId('restarts').textContent(), '0', `${name} has not restarted`);
  }
  await b.shot('security');
});

t.test('ui — narrow width still shows the page without horizontal page scroll', async (t) => {
  await b.page.setViewportSize({ width: 360, height: 780 });
  await b.page.goto(`${srv.url}/audit`);
  await b.page.getByRole('heading', { name: 'Audit tap' }).waitFor();
  const overflow = await b.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number;
  t.ok(overflow <= 1, `page does not scroll sideways (${overflow}px)`);
  await b.shot('audit-narrow');
  await b.page.goto(`${srv.url}/machines`);
  await b.page.locator('article[data-actor="audit"] svg.statechart').waitFor();
  const overflow2 = await b.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth') as number;
  t.ok(overflow2 <= 1, `machines page does not scroll sideways either; wide charts scroll in their own box (${overflow2}px)`);
  await b.shot('machines-narrow');
});

t.test('ui — no CSP violation, no script error, nothing requested from another origin', async (t) => {
  const csp = b.problems.filter((p) => /Content Security Policy|Refused to/i.test(p));
  t.same(csp, [], 'no CSP violations');
  t.same(b.problems.filter((p) => p.startsWith('pageerror')), [], 'no script errors');
  t.same(b.requests.filter((u) => !u.startsWith(srv.url)), [], 'every request went to the gateway');
});
