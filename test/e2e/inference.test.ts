// End to end with the real appliance: a tiny llama goes through quarantine (stage 6 included), is loaded by a signed command,
// and the official openai client streams a chat from it through the gateway.
import t from 'tap';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { disposeAppliance, startAppliance, type Appliance } from '../helpers/appliance.js';
import { encodeTinyLlama } from '../fixtures/tiny-llama.js';

let app: Appliance;
t.before(async () => {
  app = await startAppliance({ env: { SECAI_QUARANTINE_SETTLE_MS: '200' }, timeoutMs: 60_000 });
});
t.teardown(async () => { if (app) await disposeAppliance(app); });

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 150_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${app.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

t.test('inference e2e — promoted through stage 6, loaded sandboxed, streamed to the openai client, audited, unloaded', async (t) => {
  const incoming = join(app.home, 'quarantine', 'incoming');
  mkdirSync(incoming, { recursive: true });
  writeFileSync(join(incoming, '.tiny.gguf.part'), encodeTinyLlama());
  renameSync(join(incoming, '.tiny.gguf.part'), join(incoming, 'tiny.gguf'));
  const job = await until('a verdict', () => {
    const jobs = app.ctl(['models', 'jobs', '--json']).json().jobs as { name: string; state: string; reason: string; id: string }[];
    return jobs.find((j) => j.name === 'tiny.gguf' && ['promoted', 'rejected', 'held'].includes(j.state));
  });
  t.equal(job.state, 'promoted', job.reason);
  const report = app.ctl(['models', 'report', job.id, '--json']);
  t.match(report.stdout, /behavioral/, 'stage 6 ran and is in the report');

  // The registry names the model (from the file name); load takes that name.
  const name = (app.ctl(['models', 'list', '--json']).json().models as { name: string }[])[0]!.name;
  const load = app.ctl(['models', 'load', name, '--json'], { timeoutMs: 120_000 });
  t.equal(load.code, 0, load.stdout + load.stderr);
  t.match(load.json(), { name, sandboxed: true });

  const client = new OpenAI({ baseURL: `${app.httpUrl}/v1`, apiKey: 'local', maxRetries: 0 });
  t.same((await client.models.list()).data.map((m) => m.id), [name]);
  let text = '';
  let chunks = 0;
  for await (const c of await client.chat.completions.create({ model: name, messages: [{ role: 'user', content: 'hello' }], max_tokens: 12, temperature: 0, stream: true })) {
    text += c.choices[0]?.delta.content ?? '';
    chunks++;
  }
  t.ok(chunks > 2 && text.length > 0, `streamed ${chunks} chunks`);

  const chat = app.ctl(['chat', '-m', 'hello', '--json', '--model', name], { timeoutMs: 120_000 });
  t.equal(chat.code, 0, chat.stderr);
  t.equal(chat.json().model, name);

  // The audit actor appends from its JetStream consumer: give it a moment.
  const tail = await until('the load in the audit chain', () => {
    const recs = app.ctl(['audit', 'tail', '-n', '500', '--json']).json().records as { subject: string; payload: Record<string, unknown> }[];
    return recs.some((r) => r.subject === 'secai.evt.inference.model_loaded') ? recs : undefined;
  }, 20_000).catch((e: Error) => { t.fail(e.message.slice(0, 300)); return [] as { subject: string; payload: Record<string, unknown> }[]; });
  t.ok(tail.some((r) => r.subject === 'secai.evt.inference.model_loaded' && JSON.stringify(r.payload).includes('"sandboxed":true')), 'the sandboxed load is in the audit chain');
  t.notOk(JSON.stringify(tail).includes(text.slice(0, 8) || '\u0000'), 'no chat text in the audit chain');

  const unload = app.ctl(['models', 'unload', name, '--json']);
  t.equal(unload.code, 0);
  // A fresh client: the old keep-alive socket may have idled out during the unload.
  const fresh = new OpenAI({ baseURL: `${app.httpUrl}/v1`, apiKey: 'local', maxRetries: 2 });
  // The shipped policy loads a promoted model on its first request (inference.load_on_demand): the
  // unloaded model comes back for the next request, under its file name too, without securectl.
  const again = await fresh.chat.completions.create({ model: `${name}.gguf`, messages: [{ role: 'user', content: 'x' }], max_tokens: 2, temperature: 0 });
  t.equal(again.usage?.completion_tokens, 2, 'loaded again on demand');
  // A name the registry does not hold is still a 404.
  const gone = await fresh.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
  t.ok(gone instanceof OpenAI.NotFoundError, `an unknown model: 404 (${String(gone).slice(0, 200)})`);
});
