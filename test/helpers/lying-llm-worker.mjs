// A stand-in llm worker that breaks the worker protocol on cue (argv[2]), for the adversarial tests of the
// inference actor's worker supervision. 'good' follows the protocol, so a test can show the actor goes on.
const mode = process.argv[2] ?? 'good';
const send = (m) => process.send(m);
const info = { gpu: false, threads: 1, contextSize: 2048, architecture: 'fake', trainContextSize: 2048, sequences: 1, loadMs: 1 };
const done = (id, extra = {}) => ({ type: 'done', id, finishReason: 'stop', usage: { promptTokens: 1, completionTokens: 1 }, firstTokenMs: 1, totalMs: 2, ...extra });

const lies = {
  'bad-loaded': { load: () => send({ type: 'loaded', info: { ...info, threads: 'all of them' } }) },
  'unknown-type': { load: () => send({ type: 'exec', command: 'cat /etc/shadow' }) },
  'not-an-object': { load: () => send('loaded') },
  'bad-token': { generate: (m) => send({ type: 'token', id: m.id, text: 42 }) },
  'huge-token': { generate: (m) => send({ type: 'token', id: m.id, text: 'x'.repeat(64 * 1024 + 1) }) },
  'extra-key': { generate: (m) => { send({ type: 'token', id: m.id, text: 'ok' }); send(done(m.id, { evil: true })); } },
  'bad-error-code': { generate: (m) => send({ type: 'error', id: m.id, error: { code: 'rm -rf /', message: 'x' } }) },
};

process.on('message', (m) => {
  const lie = lies[mode]?.[m.type];
  if (lie) return lie(m);
  if (m.type === 'load') return send({ type: 'loaded', info });
  if (m.type === 'generate') { send({ type: 'token', id: m.id, text: 'ok' }); return send(done(m.id)); }
  if (m.type === 'shutdown') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
send({ type: 'started', pid: process.pid });
