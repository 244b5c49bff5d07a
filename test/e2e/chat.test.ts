// E2E: the Chat page in chromium streams a reply from a real tiny llama in a sandboxed worker, through the gateway's OpenAI routes;
// each turn is saved in the real vault actor (the gateway's chat routes), and a saved conversation reopens.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/log.js';
import { homePaths } from '../../common/paths.js';
import { openaiRoutes } from '../../actors/gateway/routes/openai.js';
import { uiRoutes } from '../../actors/gateway/routes/ui.js';
import { chatRoutes } from '../../actors/gateway/routes/chats.js';
import { ensureAuditStreams } from '../../runtime/bus-setup.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';
import { startInferenceStack } from '../helpers/inference-stack.js';
import { openBrowser } from '../helpers/browser.js';
import { serveRoutes } from '../helpers/route-server.js';
import { standInSession } from '../helpers/session-stand-in.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-chat-'));
const modelPath = join(dir, 'tiny.gguf');
const sha256 = writeTinyLlama(modelPath);
const stack = await startInferenceStack();
stack.registry.set('tiny', { name: 'tiny', path: modelPath, sha256 });
await stack.host.load('tiny');
// The reply's end is controlled on the server side (#13.9): while `holdOpen`, a finished generation's final
// reply waits until the page cancels it, so the Stop step always meets a reply still streaming, however
// fast the tiny model runs out of tokens and however far behind a loaded machine's browser is.
let holdOpen = false;
const held = new Map<string, () => void>();
const generate = stack.host.generate.bind(stack.host);
const cancel = stack.host.cancel.bind(stack.host);
stack.host.generate = async (model, input, onToken, o = {}) => {
  const r = await generate(model, input, onToken, o);
  if (!holdOpen || r.finishReason === 'cancelled' || !o.requestId) return r;
  await new Promise<void>((release) => held.set(o.requestId!, release));
  return { ...r, finishReason: 'cancelled' };
};
stack.host.cancel = (requestId) => {
  const release = held.get(requestId);
  if (!release) return cancel(requestId);
  held.delete(requestId);
  release();
  return true;
};
const gb = await stack.bus.connect('gateway');
// The real vault actor keeps the history: the audit streams first (it publishes its events there), then setup.
await ensureAuditStreams((await stack.bus.connect('supervisor')).nc);
const vaultPolicy = fastPolicyDir();
const vault = await startActorProcess(stack.bus, 'vault', vaultPolicy);
await (await stack.bus.connect('auth')).request('vault', 'setup', { passphrase: 'chat test passphrase' }, 30_000);
const session = standInSession();
const deps = { bus: gb, log: createLogger('gateway-test'), paths: homePaths(dir), configDir: '' };
const srv = await serveRoutes([session.statusRoute, ...openaiRoutes(deps), ...chatRoutes(deps), ...uiRoutes({ headless: false })], session.guard);
const b = await openBrowser();
t.teardown(async () => {
  await b.close();
  await srv.close();
  await killHard(vault);
  await stack.stop();
  cleanup(vaultPolicy);
  rmSync(dir, { recursive: true, force: true });
});

/** Collects the distinct texts of the last assistant bubble in window.__texts (streaming shows several). */
const WATCH_TEXTS = `(() => {
  window.__texts = new Set();
  new MutationObserver(() => {
    const m = document.querySelectorAll('li.msg[data-role="assistant"] .text');
    const last = m[m.length - 1];
    if (last) window.__texts.add(last.textContent);
  }).observe(document.querySelector('ol.messages'), { subtree: true, childList: true, characterData: true });
})()`;

t.test('ui chat — model picker lists the loaded model; the reply streams in; the conversation continues', async (t) => {
  await b.context.addCookies([{ ...session.cookie, domain: '127.0.0.1', path: '/', httpOnly: true, sameSite: 'Strict' }]);
  // The session proof, where login would have left it (this tab's sessionStorage): the cookie alone is not a session.
  await b.context.addInitScript(session.seedScript);
  await b.page.goto(`${srv.url}/chat`);
  await b.page.getByRole('heading', { name: 'Chat' }).waitFor();
  const picker = b.page.getByLabel('Model');
  await picker.locator('option', { hasText: 'tiny' }).waitFor({ state: 'attached' });
  t.equal(await picker.inputValue(), 'tiny', 'the loaded model is picked');

  // Count the distinct texts the assistant bubble shows while the reply arrives: streaming shows several.
  await b.page.evaluate(WATCH_TEXTS);
  await b.page.getByLabel('Longest reply (tokens)').fill('40');
  await b.page.getByLabel('Message').fill('hello there');
  await b.page.getByRole('button', { name: 'Send' }).click();
  const assistant = b.page.locator('li.msg[data-role="assistant"]').first();
  // The reply is done when Stop is disabled again (the assistant bubble and the enabled Stop appear in one render).
  await assistant.waitFor();
  await b.page.locator('button.secondary[disabled]', { hasText: 'Stop' }).waitFor({ timeout: 60_000 });
  const text = (await assistant.locator('.text').textContent()) ?? '';
  t.ok(text.length > 0 && text !== '…', 'the model answered');
  t.equal(await assistant.locator('.error').count(), 0, 'no error');
  t.equal(await b.page.locator('li.msg[data-role="user"] .text').first().textContent(), 'hello there');

  await b.page.getByLabel('Message').fill('and again');
  await b.page.keyboard.press('Enter');
  await b.page.locator('li.msg[data-role="assistant"]').nth(1).locator('.text').filter({ hasNotText: /^…?$/ }).waitFor({ timeout: 60_000 });
  t.equal(await b.page.locator('li.msg').count(), 4, 'two turns, each with a reply');
  await b.page.getByTestId('save-state').getByText('saved in the vault').waitFor();
  await b.page.locator('ul.chat-list li', { hasText: 'hello there' }).waitFor();
  t.pass('the conversation is saved and listed under its first question');
  await b.shot('chat');

  // Stop: a long reply is cut off by the button; the page says so and is ready for the next message.
  // The server holds the reply open until Stop (holdOpen above): a reply that ended before Stop could be
  // pressed would prove nothing, and on a loaded machine the tiny model's 4000 tokens took under 4 s.
  holdOpen = true;
  t.teardown(() => { holdOpen = false; for (const release of held.values()) release(); });
  await b.page.getByRole('button', { name: 'New chat' }).click();
  t.equal(await b.page.locator('li.msg').count(), 0, 'a new chat is empty');
  await b.page.evaluate(WATCH_TEXTS);
  await b.page.getByLabel('Longest reply (tokens)').fill('4000');
  await b.page.getByLabel(/^Temperature/).fill('0');
  await b.page.getByLabel('Message').fill('hello');
  await b.page.getByRole('button', { name: 'Send' }).click();
  const reply = b.page.locator('li.msg[data-role="assistant"]').first();
  await reply.locator('.text').filter({ hasText: /.{8,}/ }).waitFor({ timeout: 60_000 });
  t.notOk(await b.page.getByRole('button', { name: 'Stop' }).isDisabled(), 'the reply is still streaming');
  // The bubble re-renders with every token, so Playwright's "stable for two frames" wait could keep a
  // normal click waiting on a loaded machine: the button is enabled, so click it as it is.
  await b.page.getByRole('button', { name: 'Stop' }).click({ force: true });
  await reply.locator('.error', { hasText: 'stopped' }).waitFor({ timeout: 30_000 });
  t.pass('a long reply was cut off by Stop');
  holdOpen = false;
  // The stopped reply was still streaming: its bubble showed several texts as it grew.
  const seen = await b.page.evaluate('[...window.__texts].filter((x) => x && x !== "…").length') as number;
  t.ok(seen >= 2, `the reply grew in place while it streamed (${seen} distinct texts)`);
  await b.page.locator('button.secondary[disabled]', { hasText: 'Stop' }).waitFor();
  t.pass('Stop is disabled again');

  // The stopped turn is saved too: a new chat, then reopening the saved one shows it with its mark.
  await b.page.getByTestId('save-state').getByText('saved in the vault').waitFor();
  await b.page.locator('ul.chat-list').getByRole('button', { name: 'hello', exact: true }).waitFor();
  await b.page.getByRole('button', { name: 'New chat' }).click();
  t.equal(await b.page.locator('li.msg').count(), 0, 'a new chat is empty');
  await b.page.locator('ul.chat-list').getByRole('button', { name: 'hello', exact: true }).click();
  await b.page.locator('li.msg .error', { hasText: 'stopped' }).first().waitFor();
  t.equal(await b.page.locator('li.msg').count(), 2, 'the turn came back from the vault, marked stopped');
  await b.page.locator('ul.chat-list').getByRole('button', { name: 'hello there', exact: true }).click();
  await b.page.locator('li.msg').nth(3).waitFor();
  t.equal(await b.page.locator('li.msg').count(), 4, 'the first conversation is still there, both turns');
  for (const title of ['hello there', 'hello']) await b.page.getByRole('button', { name: `Delete ${title}`, exact: true }).click();
  await b.page.getByText('No saved conversation yet.').waitFor();
  t.equal(await b.page.locator('li.msg').count(), 0, 'deleting the open conversation starts a new one');
  t.same(b.problems.filter((p) => /Content Security Policy|Refused to|pageerror/i.test(p)), [], 'no CSP violation or script error');
});
