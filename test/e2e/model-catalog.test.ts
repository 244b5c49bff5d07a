// E2E on the real appliance with a real browser: the Models page lists the signed model catalog (size, license,
// source, SHA-256 pin); Download starts the import through the airlock from a local HTTPS origin, and the run is
// watched until promoted; an entry whose origin serves other bytes than its pin ends rejected at stage 3.
import t from 'tap';
import { disposeAppliance, setupCode, startAppliance } from '../helpers/appliance.js';
import { openBrowser } from '../helpers/browser.js';
import { sha256, startCatalogOrigin } from '../helpers/catalog-origin.js';

const PASS = 'correct horse battery staple';
t.setTimeout(600_000);
const origin = await startCatalogOrigin();
const a = await startAppliance({ headless: false, env: origin.env, timeoutMs: 120_000 });
const b = await openBrowser();
t.teardown(async () => { await b.close(); await disposeAppliance(a); await origin.dispose(); });
const page = b.page;

t.test('model catalog — first run, then the Models page lists the signed catalog with its pins', async (t) => {
  await page.goto(`${a.httpUrl}/`);
  await page.getByRole('heading', { name: 'Set up SecAI OS' }).waitFor();
  await page.getByLabel('Passphrase', { exact: true }).fill(PASS);
  await page.getByLabel('Repeat passphrase').fill(PASS);
  await page.getByLabel('Setup code').fill(setupCode(a));
  await page.getByRole('button', { name: 'Create vault' }).click();
  await page.getByRole('heading', { name: 'Machines' }).waitFor();
  await page.getByRole('link', { name: 'Models' }).click();
  await page.getByRole('heading', { name: 'Model catalog' }).waitFor();
  const row = page.locator('tr[data-catalog-model="tiny"]');
  await row.waitFor();
  t.equal(await row.getByTestId('pin').textContent(), sha256(origin.tiny), 'the pin is shown whole');
  t.match(await row.textContent(), /Apache-2\.0/);
  t.match(await row.textContent(), /https:\/\/models\.test\/org\/tiny\/resolve\/main\/tiny-cat\.gguf/);
  t.match(await page.getByTestId('model-catalog-signer').textContent(), /signed by test-publisher/);
  await b.shot('model-catalog');
});

t.test('model catalog — Download starts the import and the run is watched stage by stage until promoted', async (t) => {
  await page.getByRole('button', { name: 'Download tiny', exact: true }).click();
  await page.getByTestId('catalog-done-tiny').getByText(/tiny-cat\.gguf is downloading into quarantine as job q/).waitFor({ timeout: 60_000 });
  const run = page.locator('article.run', { hasText: 'tiny-cat.gguf' });
  await run.waitFor({ timeout: 30_000 });
  await run.getByTestId('outcome').getByText('promoted').waitFor({ timeout: 180_000 }).catch(async (e: unknown) => {
    await b.shot('model-catalog-failed');
    t.comment(`run says: ${await run.textContent()}`);
    throw e;
  });
  t.equal(await run.locator('li.stage[data-stage="integrity"]').getAttribute('data-verdict'), 'pass', 'stage 3 passed: the file matches its pin');
  await page.locator('tr[data-model="tiny-cat"]').waitFor({ timeout: 30_000 });
  t.pass('in the registry list');
  t.ok(origin.server.hits.includes('/org/tiny/resolve/main/tiny-cat.gguf'), 'fetched from the origin through the airlock');
});

t.test('model catalog — an origin that serves other bytes than the pin: the run ends rejected at stage 3, both hashes shown', async (t) => {
  await page.getByRole('button', { name: 'Download tiny-swapped', exact: true }).click();
  const run = page.locator('article.run', { hasText: 'tiny-swapped.gguf' });
  await run.getByTestId('outcome').getByText('rejected').waitFor({ timeout: 180_000 });
  const integrity = run.locator('li.stage[data-stage="integrity"]');
  t.equal(await integrity.getAttribute('data-verdict'), 'fail');
  const text = await run.textContent() ?? '';
  t.ok(text.includes(sha256(origin.tiny)) && text.includes(sha256(origin.other)), 'the pinned and the downloaded hash are both on the page');
  await b.shot('model-catalog-rejected');
});
