// Typed contracts: replies are checked where they enter the client (real nats-server), and a handler or a
// caller that does not fit its op's schemas does not compile.
import t from 'tap';
import { join } from 'node:path';
import ts from 'typescript';
import { ReplySchemaError } from '../../bus/client.js';
import { defineManifest, type ActorManifest } from '../../bus/manifest.js';
import { serveOp } from '../../bus/op-ref.js';
import { s } from '../../bus/schema.js';
import { serveManifest, type HandlersFor } from '../../bus/service.js';
import { allowedCallers } from '../../bus/acl.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { ROOT } from '../helpers/appliance.js';
import { startTestBus } from '../helpers/bus.js';

const liar = defineManifest({
  name: 'liar', kind: 'actor', description: 'answers what the test tells it to', entry: 'x.js',
  serves: {
    status: { request: s.object({ n: s.integer({ minimum: 0 }) }), reply: s.object({ state: s.string({ enum: ['up'] }), n: s.integer() }), description: 'status' },
    gen: {
      request: s.object({ n: s.integer({ minimum: 0, maximum: 10 }) }), reply: s.object({ total: s.integer() }), chunk: s.object({ text: s.string({ maxLength: 16 }) }),
      stream: true, timeoutMs: 5000, description: 'n chunks',
    },
  },
  commands: {}, publishes: {}, requests: [], subscribes: [],
});
const asker = defineManifest({
  name: 'asker', kind: 'client', description: 'asks', serves: {}, commands: {}, publishes: {}, requests: ['liar.status', 'liar.gen'], subscribes: [],
});

// What the liar answers next; the handlers are typed as any manifest's so they can lie.
let nextReply: unknown;
let nextChunk: unknown;
const unused = (): never => { throw new Error('not asked'); };

t.test('typed contracts — a reply that violates its schema is refused at the client, naming the op', async (t) => {
  const bus = await startTestBus([liar, asker]);
  t.teardown(() => bus.stop());
  const server = await bus.connect('liar');
  const client = await bus.connect('asker');
  serveManifest<ActorManifest>({
    bus: server, manifest: liar, log: createLogger('test', 'silent'), operators: { lookup: () => undefined }, callers: allowedCallers([liar, asker]),
    ops: {
      status: () => nextReply,
      gen: (req: { n: number }, call) => { for (let i = 0; i < req.n; i++) call.chunk?.(nextChunk); return nextReply; },
      ping: unused, describe: unused, snapshot: unused,
    },
    commands: { ping: unused },
  });
  await server.nc.flush();
  const status = serveOp(liar, 'status');

  nextReply = { state: 'up', n: 3 };
  const good = await client.call(status, { n: 1 });
  t.same(good, { state: 'up', n: 3 }, 'a reply that fits arrives as its static type');
  t.equal(good.state, 'up');

  const lies: [string, unknown][] = [
    ['an enum value it does not have', { state: 'down', n: 3 }],
    ['a missing key', { state: 'up' }],
    ['an unknown key', { state: 'up', n: 3, admin: true }],
    ['a wrong type', { state: 'up', n: '3' }],
    ['no object at all', 'up'],
    ['null (a handler that returned nothing)', null],
  ];
  for (const [what, reply] of lies) {
    nextReply = reply;
    const err = await client.call(status, { n: 1 }).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof ReplySchemaError, `${what}: refused by the client`);
    t.equal((err as SecaiError).code, ErrorCode.SCHEMA, `${what}: SECAI_E_SCHEMA`);
    t.match((err as Error).message, /reply of liar\.status/, `${what}: the error names the op`);
  }
  // The same bytes through the unchecked path arrive as sent: the check is the client's, not the server's.
  nextReply = { state: 'down', n: 3 };
  t.same(await client.request('liar', 'status', { n: 1 }), { state: 'down', n: 3 });

  // Streams: every chunk and the final reply are checked.
  const gen = serveOp(liar, 'gen');
  const run = async () => { const got: string[] = []; const it = client.callStream(gen, { n: 2 }); for (;;) { const r = await it.next(); if (r.done) return { got, end: r.value }; got.push(r.value.text); } };
  nextChunk = { text: 'hi' };
  nextReply = { total: 2 };
  t.same(await run(), { got: ['hi', 'hi'], end: { total: 2 } });
  nextChunk = { text: 'x'.repeat(17) };
  await t.rejects(run(), { code: ErrorCode.SCHEMA, message: /chunk of liar\.gen/ }, 'an oversized chunk is refused');
  nextChunk = { text: 'hi' };
  nextReply = { total: 'two' };
  await t.rejects(run(), { code: ErrorCode.SCHEMA, message: /reply of liar\.gen/ }, 'a bad final reply is refused');
});

// Compile-time half: tsc checks these lines (npx tsc -p tsconfig.json); each directive fails the build if
// the error it expects ever stops being an error. Never called.
export function compileTimeChecks(client: import('../../bus/client.js').BusClient): void {
  const handlers: HandlersFor<typeof liar.serves> = {
    // @ts-expect-error the reply schema allows only state 'up'
    status: () => ({ state: 'down', n: 1 }),
    // @ts-expect-error the request has no `m`
    gen: (req) => ({ total: req.m }),
  };
  void handlers;
  // @ts-expect-error the request needs `n`
  void client.call(serveOp(liar, 'status'), {});
  // @ts-expect-error liar serves no such op
  void serveOp(liar, 'nope');
  void client.call(serveOp(liar, 'status'), { n: 1 }).then((r) => {
    // @ts-expect-error the reply has no `extra`
    void r.extra;
  });
}

t.test('typed contracts — a handler that does not return its reply type does not compile', async (t) => {
  // The compiler itself, on a small file: the suite proves it even where no one runs tsc.
  const dir = join(ROOT, 'test', 'bus');
  const file = join(dir, '__typed-contract-probe.ts');
  const source = [
    "import { defineManifest } from '../../bus/manifest.js';",
    "import { s } from '../../bus/schema.js';",
    "import type { HandlersFor } from '../../bus/service.js';",
    "const m = defineManifest({ name: 'm', kind: 'actor', description: '', serves: { op: { request: s.object({ a: s.string() }), reply: s.object({ ok: s.boolean() }), description: '' } }, commands: {}, publishes: {}, requests: [], subscribes: [] });",
    "export const good: HandlersFor<typeof m.serves> = { op: (req) => ({ ok: req.a.length > 0 }) };",
    "export const bad: HandlersFor<typeof m.serves> = { op: () => ({ ok: 'yes' }) };",
  ].join('\n');
  const options: ts.CompilerOptions = {
    strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022, noEmit: true, skipLibCheck: true, types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : read(name));
  const exists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || exists(name);
  const diags = ts.getPreEmitDiagnostics(ts.createProgram([file], options, host)).filter((d) => d.file?.fileName === file);
  const lines = diags.map((d) => d.file!.getLineAndCharacterOfPosition(d.start!).line + 1);
  t.same(lines, [6], `only the bad handler fails: ${diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join(' | ')}`);
});
