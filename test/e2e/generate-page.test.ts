// E2E on the real appliance in real Chromium: a tiny Stable Diffusion folder (the project's own ONNX writer) goes through
// the quarantine (signed `securectl models import`), and the Generate page makes a picture with it: the progress bar
// moves step by step, the picture is shown and saved in the gallery (the vault); a second, long run is cancelled from
// the page; a start image uploaded from disk drives image-to-image; a gallery picture is deleted; securectl generate
// writes a PNG through the same appliance.
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { decodePng } from '../../workers/diffusion/png.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { disposeAppliance, ROOT, setupCode, startAppliance } from '../helpers/appliance.js';
import { openBrowser } from '../helpers/browser.js';

t.setTimeout(600_000);
const PASS = 'owner passphrase for the generate page';
// The shipped policy with room for a long run to cancel (150 steps at 1024²: seconds, even for the tiny pipeline).
const config = mkdtempSync(join(tmpdir(), 'secai-gen-config-'));
cpSync(join(ROOT, 'policy'), config, { recursive: true });
const doc = parseDocument(readFileSync(join(config, 'policy.yaml'), 'utf8'));
doc.setIn(['diffusion', 'max_steps'], 150);
doc.setIn(['vault', 'argon2'], 'interactive');
writeFileSync(join(config, 'policy.yaml'), doc.toString());
const work = mkdtempSync(join(tmpdir(), 'secai-gen-'));
const a = await startAppliance({ headless: false, env: { SECAI_QUARANTINE_SETTLE_MS: '200', SECAI_CONFIG: config }, timeoutMs: 60_000 });
const b = await openBrowser();
t.teardown(async () => { await b.close(); await disposeAppliance(a); rmSync(config, { recursive: true, force: true }); rmSync(work, { recursive: true, force: true }); });
const page = b.page;
const LIMITS = { maxWidth: 2048, maxHeight: 2048, maxBytes: 1 << 26 };

/** Records every step the page shows (data-step of the status line), for the progress bar's movement. */
const WATCH_STEPS = `(() => {
  window.__steps = [];
  const el = document.querySelector('[data-testid="gen-step"]');
  new MutationObserver(() => {
    const bar = document.getElementById('gen-progress');
    window.__steps.push([el.getAttribute('data-step'), bar.value, bar.max]);
  }).observe(el, { attributes: true, attributeFilter: ['data-step'] });
})()`;
const steps = async () => (await page.evaluate('window.__steps')) as [string, number, number][];

t.test('generate page — the tiny pipeline is promoted through the quarantine; the owner signs in', async (t) => {
  const dir = join(work, 'tiny-sd');
  writeTinySdOnnx(dir);
  const r = a.ctl(['models', 'import', dir, '--json'], { timeoutMs: 300_000 });
  t.equal(r.code, 0, `promoted: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  t.match(a.ctl(['models', 'list', '--json']).json().models, [{ name: 'tiny-sd', kind: 'folder' }]);
  const setup = await fetch(`${a.httpUrl}/api/auth/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ passphrase: PASS, setupCode: setupCode(a) }) });
  t.equal(setup.status, 200, 'first-run setup');
  await page.goto(`${a.httpUrl}/generate`);
  await page.getByLabel('Passphrase').fill(PASS);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Generate' }).waitFor();
  t.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Generate' }).getAttribute('aria-current'), 'page', 'Generate is in the navigation');
});

t.test('generate page — a prompt makes a picture: the progress bar moves step by step, the picture is shown and saved', async (t) => {
  await page.getByLabel('Model').locator('option', { hasText: 'tiny-sd' }).waitFor({ state: 'attached' });
  await page.getByTestId('gallery-empty').waitFor();
  await page.getByLabel('Prompt', { exact: true }).fill('a lighthouse at dusk');
  await page.getByLabel('Negative prompt').fill('blurry');
  await page.getByLabel('Width').fill('512');
  await page.getByLabel('Height').fill('256');
  await page.getByLabel('Steps').fill('40');
  await page.getByLabel('Scheduler').selectOption('euler_a');
  await page.evaluate(WATCH_STEPS);
  await page.getByRole('button', { name: 'Generate' }).click();
  const result = page.getByTestId('gen-result');
  await result.waitFor();
  const seen = await steps();
  const numbers = [...new Set(seen.map(([s]) => Number(s)).filter((s) => s > 0))];
  t.ok(numbers.length >= 3, `the bar moved: steps ${numbers.join(', ')}`);
  t.same(numbers, [...numbers].sort((x, y) => x - y), 'forward only');
  t.equal(numbers.at(-1), 40, 'to the last step');
  t.ok(seen.some(([s, value, max]) => Number(s) > 0 && value === Number(s) && max === 40), 'the <progress> value is step / steps');
  const shown = await page.evaluate(`(() => { const i = document.querySelector('[data-testid="gen-result"] img'); return [i.naturalWidth, i.naturalHeight, i.alt]; })()`);
  t.same(shown, [512, 256, 'a lighthouse at dusk'], 'the picture of the size asked');
  t.match(await result.textContent(), /512×256, seed \d+, 40 steps \(euler_a\).*saved in the gallery/);
  const thumb = page.locator('ul.gallery li').first();
  await thumb.locator('img').waitFor();
  t.equal(await page.locator('ul.gallery li').count(), 1, 'one picture in the gallery');
  t.equal(await thumb.locator('.caption').textContent(), 'a lighthouse at dusk');
  await b.shot('generate-done');
});

t.test('generate page — a long second run is cancelled from the page; the first picture stays', async (t) => {
  const before = await page.getByTestId('gen-result').getAttribute('data-seed');
  await page.getByLabel('Width').fill('1024');
  await page.getByLabel('Height').fill('1024');
  await page.getByLabel('Steps').fill('150');
  await page.evaluate('window.__steps = []');
  await page.getByRole('button', { name: 'Generate' }).click();
  // The page's own record of every step it showed, not a locator's polling: steps 2 to 5 can pass between two polls.
  // A function, not a string: the page's CSP has no 'unsafe-eval'.
  await page.waitForFunction(() => (globalThis as unknown as { __steps: [string][] }).__steps.some(([s]) => Number(s) >= 2));
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByTestId('gen-error').getByText('Cancelled.').waitFor();
  const last = Number((await steps()).map(([s]) => s).filter((s) => s !== '').at(-1));
  t.ok(last > 0 && last < 150, `stopped at step ${last} of 150`);
  t.equal(await page.getByTestId('gen-result').getAttribute('data-seed'), before, 'the shown picture is still the first');
  t.equal(await page.locator('ul.gallery li').count(), 1, 'nothing more in the gallery');
  t.ok(await page.getByRole('button', { name: 'Generate' }).isEnabled(), 'the page is ready for the next run');
  await b.shot('generate-cancelled');
});

t.test('generate page — a start image from disk: image-to-image at a strength, with a fixed seed', async (t) => {
  const first = Buffer.from((await page.getByTestId('gen-result').locator('img').getAttribute('src'))!.split(',')[1]!, 'base64');
  await page.setInputFiles('#gen-start', { name: 'start.png', mimeType: 'image/png', buffer: first });
  await page.getByAltText('the start image').waitFor();
  // A range input takes no typing: set it as the slider would.
  await page.evaluate(`(() => { const el = document.getElementById('gen-strength'); el.value = '0.5'; el.dispatchEvent(new Event('input', { bubbles: true })); })()`);
  await page.getByText('Strength 0.50').waitFor();
  await page.getByLabel('Width').fill('256');
  await page.getByLabel('Height').fill('256');
  await page.getByLabel('Steps').fill('10');
  await page.getByLabel('Random seed').uncheck();
  await page.getByLabel('Seed', { exact: true }).fill('1234');
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.locator('[data-testid="gen-result"][data-seed="1234"]').waitFor();
  t.match(await page.getByTestId('gen-result').textContent(), /256×256, seed 1234, 5 steps/, 'strength 0.5 of 10 steps runs 5');
  await page.locator('ul.gallery li').nth(1).waitFor();
  t.equal(await page.locator('ul.gallery li').count(), 2);
});

t.test('generate page — a gallery picture is deleted; no CSP or console problem on the page', async (t) => {
  await page.getByRole('button', { name: 'Delete a lighthouse at dusk' }).last().click();
  await page.locator('ul.gallery li').nth(1).waitFor({ state: 'detached' });
  t.equal(await page.locator('ul.gallery li').count(), 1, 'one left');
  t.same(b.problems, [], 'no console errors or CSP violations');
  t.notOk(b.requests.some((u) => !u.startsWith(a.httpUrl) && !u.startsWith('data:')), 'nothing was requested from another origin');
});

t.test('securectl generate — a PNG through the same appliance', async (t) => {
  const out = join(work, 'cli.png');
  const r = a.ctl(['generate', '--model', 'tiny-sd', '--prompt', 'a red cat', '--size', '64x64', '--steps', '3', '--seed', '5', '--out', out, '--json'], { timeoutMs: 120_000 });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /step 1\/3\nstep 2\/3\nstep 3\/3\n/, 'progress on stderr');
  t.match(r.json(), { out, seed: 5, width: 64, height: 64, steps: 3 });
  t.same([decodePng(readFileSync(out), LIMITS).width, decodePng(readFileSync(out), LIMITS).height], [64, 64]);
  const again = a.ctl(['generate', '--model', 'tiny-sd', '--prompt', 'x', '--size', '64x64', '--steps', '1', '--out', out]);
  t.equal(again.code, 2, 'an existing file: exit 2');
  t.match(again.stderr, /exists/);
});
