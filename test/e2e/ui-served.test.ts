// E2E: the real appliance serves the built UI with the gateway's CSP (not headless), the browser loads it cleanly, and the session API stays closed to it.
import t from 'tap';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { openBrowser } from '../helpers/browser.js';

t.test('ui served — headless serves the API alone, no UI', async (t) => {
  const a = await startAppliance();
  t.teardown(() => disposeAppliance(a));
  t.equal((await fetch(`${a.httpUrl}/api/health`)).status, 200);
  const r = await fetch(`${a.httpUrl}/`);
  t.equal(r.status, 404);
  t.match(r.headers.get('content-type'), /application\/json/);
});

t.test('ui served — with the UI: strict CSP, assets, sign-in first, session API refused', async (t) => {
  const a = await startAppliance({ headless: false });
  const b = await openBrowser();
  t.teardown(async () => { await b.close(); await disposeAppliance(a); });

  const index = await fetch(`${a.httpUrl}/`);
  t.equal(index.status, 200);
  const csp = index.headers.get('content-security-policy') ?? '';
  t.match(csp, /script-src 'self'(;|$)/, 'scripts only from the gateway');
  t.match(csp, /style-src 'self'(;|$)/, 'styles only from the gateway');
  const html = await index.text();
  t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  t.notMatch(html, /<style|style=/, 'no inline style');
  t.notMatch(html, /https?:\/\//, 'nothing from another origin');

  await b.page.goto(`${a.httpUrl}/machines`);
  // The real gateway: with the auth routes installed the first run asks for a passphrase; without, it says sign-in is unavailable.
  const authRoutes = (await fetch(`${a.httpUrl}/api/auth/status`)).status !== 404;
  await b.page.getByRole('heading', { name: authRoutes ? 'Set up SecAI OS' : 'Sign-in unavailable' }).waitFor();
  for (const path of ['/api/machines', '/api/events', '/api/audit/tail', '/api/status']) {
    t.equal(await b.page.evaluate(`fetch(${JSON.stringify(path)}).then((r) => r.status)`), 401, `${path} needs a session`);
  }
  t.equal(await b.page.evaluate(`fetch('/api/audit/verify', { method: 'POST' }).then((r) => r.status)`), 401, 'verify needs a session');
  await b.shot(authRoutes ? 'first-run' : 'sign-in-unavailable');
  t.same(b.problems.filter((p) => /Content Security Policy|Refused to|pageerror/i.test(p)), [], 'no CSP violation or script error');
  t.same(b.requests.filter((u) => !u.startsWith(a.httpUrl)), [], 'every request went to the gateway');
});
