// bench:inference — tokens/s and time to first token through HTTP → gateway routes → bus → inference host →
// sandboxed worker, versus node-llama-cpp called in-process, on the same model file and prompts, interleaved.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaChat, resolveChatWrapper, type ChatHistoryItem } from 'node-llama-cpp';
import { inferenceThreads } from '../workers/cpu.js';
import { writeTinyLlama } from '../test/fixtures/tiny-llama.js';
import { startInferenceStack, TEST_POLICY } from '../test/helpers/inference-stack.js';
import { emit, round, summarize, table } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const MAX_TOKENS = Number(process.env.BENCH_TOKENS ?? 96);
const DIMS = Number(process.env.BENCH_DIMS ?? 768);
// TTFT is time to the first token. The random model (seed 7) spends up to 42 tokens of no text on some prompts
// ('hello', 'the world is safe'), which would make it the time to the 42nd token; these start text within a few
// tokens (LlamaChat holds back the first one or two while it checks for stop triggers). Checked below: lead.
const PROMPTS = ['How are you?', 'Write one sentence about the sea.', 'What is 2+2?', 'Name a fruit.'];

interface Run { ttftMs: number; tokens: number; totalMs: number; text: string; lead?: number }

const dir = mkdtempSync(join(tmpdir(), 'secai-bench-inf-'));
const modelPath = join(dir, 'bench.gguf');
console.log(`writing a llama GGUF: dims ${DIMS}, ff ${DIMS * 8 / 3 | 0}, 6 layers, F32 ...`);
const sha256 = writeTinyLlama(modelPath, { dims: DIMS, ff: (DIMS * 8 / 3) | 0, layers: 6, heads: 12, seed: 7 });
// BENCH_THREADS: both sides use the same count (default: the appliance's own, physical cores minus one).
const threads = Number(process.env.BENCH_THREADS ?? 0) || inferenceThreads();

// Baseline: node-llama-cpp in this process, same settings as the worker (threads, context, chat wrapper).
const llama = await getLlama({ gpu: 'auto', logLevel: 'error' as never });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: TEST_POLICY.context_size, threads, sequences: 1 });
const chatWrapper = resolveChatWrapper(model);

async function base(prompt: string): Promise<Run> {
  const seq = context.getSequence();
  const chat = new LlamaChat({ contextSequence: seq, autoDisposeSequence: false, chatWrapper });
  const history: ChatHistoryItem[] = [{ type: 'user', text: prompt }, { type: 'model', response: [] }];
  const t0 = performance.now();
  let ttft = 0;
  let text = '';
  const outBefore = seq.tokenMeter.usedOutputTokens;
  let seen = 0;
  let lead = -1;
  await chat.generateResponse(history, {
    maxTokens: MAX_TOKENS, temperature: 0,
    onToken: (t) => { seen += t.length; },
    onTextChunk: (t) => { if (!ttft) { ttft = performance.now() - t0; lead = seen; } text += t; },
  });
  const totalMs = performance.now() - t0;
  const tokens = Math.min(MAX_TOKENS, seq.tokenMeter.usedOutputTokens - outBefore);
  chat.dispose({ disposeSequence: false });
  await seq.dispose();
  return { ttftMs: ttft, tokens, totalMs, text, lead };
}

const stack = await startInferenceStack({ ...TEST_POLICY, threads });
stack.registry.set('bench', { name: 'bench', path: modelPath, sha256 });
const loaded = await stack.host.load('bench');

async function ours(prompt: string): Promise<Run> {
  const t0 = performance.now();
  const res = await fetch(`${stack.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: prompt }], max_tokens: MAX_TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  let ttft = 0;
  let text = '';
  let tokens = 0;
  let buf = '';
  const dec = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const data = buf.slice(6, i);
      buf = buf.slice(i + 2);
      if (data === '[DONE]') continue;
      const j = JSON.parse(data) as { choices: { delta?: { content?: string } }[]; usage?: { completion_tokens: number } };
      const c = j.choices[0]?.delta?.content;
      if (c) { if (!ttft) ttft = performance.now() - t0; text += c; }
      if (j.usage) tokens = j.usage.completion_tokens;
    }
  }
  return { ttftMs: ttft, tokens, totalMs: performance.now() - t0, text };
}

// Warm both paths once, then interleave: the machine is noisy, a side-by-side ratio is what holds.
await base(PROMPTS[0]!);
await ours(PROMPTS[0]!);
const b: Run[] = [];
const o: Run[] = [];
let mismatches = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const p of PROMPTS) {
    const x = r % 2 ? await ours(p) : await base(p);
    const y = r % 2 ? await base(p) : await ours(p);
    const [bb, oo] = r % 2 ? [y, x] : [x, y];
    b.push(bb);
    o.push(oo);
    if (bb.text !== oo.text) mismatches++;
  }
}
const tps = (runs: Run[]) => runs.reduce((a, x) => a + x.tokens, 0) / (runs.reduce((a, x) => a + x.totalMs, 0) / 1000);
const bt = summarize(b.map((x) => x.ttftMs));
const ot = summarize(o.map((x) => x.ttftMs));
const baseTps = tps(b);
const oursTps = tps(o);
const aggregateRatio = oursTps / baseTps;
// Judged on the median of per-pair ratios (the same prompt through both paths, back to back): one hiccup of
// this 2-core machine during a generation moves the aggregate by a few percent; both are printed.
const ratio = summarize(o.map((x, i) => (x.tokens / x.totalMs) / (b[i]!.tokens / b[i]!.totalMs))).p50;
// Time to first token depends on the prompt (a random tiny model may spend several tokens before its first
// text), so p50s over a prompt mix jump between prompt groups: the overhead is the median of paired
// differences, the same prompt through both paths (outputs are identical at temperature 0; checked above).
const paired = summarize(o.map((x, i) => x.ttftMs - b[i]!.ttftMs));
const overhead = paired.p50;

console.log(`\nmodel ${round(DIMS)} dims, ${threads} threads, gpu ${String(llama.gpu)}, worker ${loaded['sandboxed'] ? 'sandboxed' : 'UNSANDBOXED'}; ${b.length} generations of ≤ ${MAX_TOKENS} tokens per side; text mismatches ${mismatches}; tokens before the first text ≤ ${Math.max(...b.map((x) => x.lead ?? 0))}\n`);
console.log(table([
  ['path', 'tokens/s', 'TTFT p50 ms', 'TTFT p99 ms', 'tokens'],
  ['node-llama-cpp in-process', round(baseTps, 1), round(bt.p50, 2), round(bt.p99, 2), b.reduce((a, x) => a + x.tokens, 0)],
  ['HTTP→gateway→bus→actor→worker', round(oursTps, 1), round(ot.p50, 2), round(ot.p99, 2), o.reduce((a, x) => a + x.tokens, 0)],
  ['ratio (all tokens / all time)', round(aggregateRatio, 3), '', '', ''],
  ['median paired ratio / TTFT overhead', round(ratio, 3), `${overhead >= 0 ? '+' : ''}${round(overhead, 2)}`, '', ''],
]));
console.log('');

await stack.stop();
await context.dispose();
await model.dispose();
await llama.dispose();
rmSync(dir, { recursive: true, force: true });
emit({
  bench: 'inference', gpu: String(llama.gpu), threads, dims: DIMS, base_tps: round(baseTps, 1), ours_tps: round(oursTps, 1), ratio: round(ratio, 3), aggregate_ratio: round(aggregateRatio, 3), target: 0.95,
  base_ttft_p50_ms: round(bt.p50, 2), ours_ttft_p50_ms: round(ot.p50, 2), ttft_overhead_ms: round(overhead, 2), ttft_overhead_mean_ms: round(paired.mean, 2), ttft_target_ms: 15,
  text_mismatches: mismatches, lead_tokens_max: Math.max(...b.map((x) => x.lead ?? 0)), met: ratio >= 0.95 && overhead < 15,
});
process.exit(0);
