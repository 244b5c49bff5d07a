// The diffusion worker: hosts the onnxruntime pipeline behind the IPC channel, in the sandbox, one model for its life.
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { verifyModelFiles } from './model-folder.js';
import { loadPipeline, type Pipeline } from './pipeline.js';
import { idOf, parseToWorker, type FromWorker, type ToWorker } from './protocol.js';
import { actorChannel, serveActor } from '../worker-main.js';

type Generate = Extract<ToWorker, { type: 'generate' }>;

let pipeline: Pipeline | undefined;
let loading = false;
/** The one generation that runs: the actor queues the others, and a second one is refused. */
let current: { id: string; ac: AbortController; done: Promise<void> } | undefined;

const { send, sendAndExit } = actorChannel<FromWorker>();

async function load(m: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  const t0 = performance.now();
  // The registry's hashes are re-checked here, inside the sandbox, on every file the sessions will read.
  await verifyModelFiles(m.modelDir, m.files);
  pipeline = await loadPipeline(m.modelDir, { threads: m.threads, provider: m.provider });
  send({ type: 'loaded', ms: performance.now() - t0, info: pipeline.info });
}

async function generate(p: Pipeline, m: Generate, signal: AbortSignal): Promise<void> {
  const { type: _type, id, initImage, ...params } = m;
  try {
    const r = await p.generate({ ...params, ...(initImage !== undefined && { initImage: Buffer.from(initImage, 'base64') }) }, {
      signal,
      onStep: (step, steps, ms) => send({ type: 'progress', id, step, steps, ms }),
    });
    send({ type: 'done', id, png: r.png.toString('base64'), seed: r.seed, width: r.width, height: r.height, ms: r.ms, steps: r.steps });
  } catch (err) {
    const e = toErrorData(err);
    if (e.code === ErrorCode.CANCELLED) send({ type: 'cancelled', id });
    else send({ type: 'failed', id, ...e });
  }
}

function onMessage(m: ToWorker): void {
  switch (m.type) {
    case 'load':
      if (pipeline || loading) {
        send({ type: 'error', ...new SecaiError(ErrorCode.INVALID_STATE, 'a model is already loaded: one model per worker').toData() });
        return;
      }
      loading = true;
      load(m).catch((err: unknown) => sendAndExit({ type: 'error', ...toErrorData(err) })).finally(() => { loading = false; });
      return;
    case 'generate': {
      if (!pipeline) {
        send({ type: 'failed', id: m.id, ...new SecaiError(ErrorCode.MODEL_NOT_LOADED, 'no model is loaded').toData() });
        return;
      }
      if (current) {
        send({ type: 'failed', id: m.id, ...new SecaiError(ErrorCode.INVALID_STATE, `generation ${current.id} is running: one at a time (the actor queues)`).toData() });
        return;
      }
      const ac = new AbortController();
      const run = { id: m.id, ac, done: Promise.resolve() };
      current = run;
      run.done = generate(pipeline, m, ac.signal).finally(() => { if (current === run) current = undefined; });
      return;
    }
    case 'cancel':
      // A cancel for a generation already over is no error: it raced its own answer.
      if (current?.id === m.id) current.ac.abort();
      return;
    case 'unload': {
      const running = current;
      running?.ac.abort();
      void (running?.done ?? Promise.resolve()).then(async () => {
        await pipeline?.release();
        process.exit(0);
      });
    }
  }
}

serveActor<ToWorker, FromWorker>({
  label: 'diffusion worker',
  parse: parseToWorker,
  // A malformed generate is answered under its own id: the caller waiting on it must not wait forever.
  refuse: (raw, err) => {
    const id = idOf(raw);
    const isGenerate = !!raw && typeof raw === 'object' && (raw as { type?: unknown }).type === 'generate';
    return id !== undefined && isGenerate ? { type: 'failed', id, ...toErrorData(err) } : { type: 'error', ...toErrorData(err) };
  },
  dispatch: onMessage,
  started: (pid) => ({ type: 'ready', pid }),
});
