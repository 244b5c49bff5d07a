// Hostile ONNX graphs that ask for code outside the standard operators: custom domains, undeclared domains, unknown opsets, invented ops, local functions. Stage 2 refuses each.
import t, { type Test } from 'tap';
import { DEFAULT_FORMAT_OPTIONS, type FormatOptions } from '../../actors/quarantine/stages/format.js';
import { encodeOnnx, pbBytes, type OnnxModel } from '../fixtures/onnx-writer.js';
import { tempDir, writeTo } from '../quarantine/helpers.js';
import { linearModel, rawGraph, rawGraphAttr, rawModel, rawNode, rawOpset, runFormat, runPipeline } from '../quarantine/onnx-helpers.js';
import { artifact } from '../quarantine/helpers.js';

async function refused(t: Test, bytes: Uint8Array, rule: string, reason?: RegExp, o: FormatOptions = DEFAULT_FORMAT_OPTIONS) {
  const r = await runFormat(writeTo(tempDir(t), 'm.onnx', bytes), 'file', o);
  t.equal(r.stage, 'format');
  t.equal(r.verdict, 'fail', r.reason);
  t.equal(r.evidence.rule, rule, `rule: ${r.reason}`);
  if (reason) t.match(r.reason, reason);
  return r;
}

const evil = (extra: Partial<OnnxModel>, node = { op: 'Backdoor', inputs: ['y'], outputs: ['z'], name: '/evil', domain: 'com.evil' }): Uint8Array => {
  const m = linearModel({ extra });
  return encodeOnnx({ ...m, graph: { ...m.graph, nodes: [...m.graph.nodes, node] } });
};

t.test('onnx operators — a node in a custom operator domain (com.evil) is refused, imported or not', async (t) => {
  const r = await refused(t, evil({ opsets: [{ domain: '', version: 17 }, { domain: 'com.evil', version: 1 }] }), 'custom_domain', /com\.evil/);
  t.match(r.evidence.problems, [{ rule: 'custom_domain', where: 'opset_import' }, { rule: 'custom_domain', where: /node "\/evil"/ }]);
  await refused(t, evil({}), 'custom_domain', /custom operator/);
});

t.test('onnx operators — a node whose domain the model does not import is refused', async (t) => {
  await refused(t, evil({}, { op: 'FusedMatMul', inputs: ['y'], outputs: ['z'], name: '/fused', domain: 'com.microsoft' }), 'domain_not_imported', /com\.microsoft.*does not import/);
});

t.test('onnx operators — an opset newer than policy accepts, or not positive, is refused', async (t) => {
  await refused(t, encodeOnnx(linearModel({ extra: { opsets: [{ domain: '', version: 99 }] } })), 'opset_too_new', /opset 99, newer than the 23/);
  await refused(t, encodeOnnx(linearModel({ extra: { opsets: [{ domain: 'ai.onnx.ml', version: 9 }, { domain: '', version: 17 }] } })), 'opset_too_new');
  const strict = { ...DEFAULT_FORMAT_OPTIONS, onnx: { ...DEFAULT_FORMAT_OPTIONS.onnx, opsets: { 'ai.onnx': 13 } } };
  await refused(t, encodeOnnx(linearModel()), 'opset_too_new', /opset 17, newer than the 13/, strict);
  await refused(t, encodeOnnx(linearModel({ extra: { opsets: [{ domain: '', version: 0 }] } })), 'bad_opset');
  await refused(t, encodeOnnx(linearModel({ extra: { opsets: [{ domain: '', version: -3 }] } })), 'bad_opset');
  await refused(t, encodeOnnx(linearModel({ extra: { opsets: [] } })), 'missing_opset');
  await refused(t, encodeOnnx(linearModel({ extra: { opsets: [{ domain: '', version: 17 }, { domain: 'ai.onnx', version: 17 }] } })), 'bad_opset', /imported twice/);
});

t.test('onnx operators — an op type that is not a standard operator of the default domain is refused', async (t) => {
  for (const op of ['SystemCall', 'PyOp', 'relu', '']) {
    await refused(t, evil({}, { op, inputs: ['y'], outputs: ['z'], name: '/x', domain: '' }), 'unknown_operator');
  }
  await refused(t, evil({}, { op: 'Exec', inputs: ['y'], outputs: ['z'], name: '/x', domain: 'ai.onnx' }), 'unknown_operator', /not a standard ai\.onnx operator/);
  await refused(t, evil({ opsets: [{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }] }, { op: 'Shell', inputs: ['y'], outputs: ['z'], name: '/x', domain: 'ai.onnx.ml' }), 'unknown_operator');
});

t.test('onnx operators — a model-local function in a custom domain is a custom operator; one in the standard domain invents an operator', async (t) => {
  const fn = (domain: string) => ({ name: 'Payload', domain, inputs: ['x'], outputs: ['y'], nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }] });
  const r = await refused(t, evil({ opsets: [{ domain: '', version: 17 }], functions: [fn('com.evil')] }, { op: 'Payload', inputs: ['y'], outputs: ['z'], name: '/call', domain: 'com.evil' }), 'custom_domain');
  t.match(r.evidence.problems, [{ rule: 'custom_domain', where: /^function "com\.evil:Payload"/ }]);
  // Defined but never called is refused too: the file carries a custom operator.
  await refused(t, encodeOnnx(linearModel({ extra: { functions: [fn('com.evil')] } })), 'custom_domain', /model-local function/);
  await refused(t, encodeOnnx(linearModel({ extra: { functions: [fn('')] } })), 'unknown_operator', /defines an operator in the standard domain/);
  // Inside the function body the same rules hold.
  const body = { name: 'Helper', domain: 'com.microsoft', inputs: ['x'], outputs: ['y'], nodes: [{ op: 'Spawn', inputs: ['x'], outputs: ['y'] }] };
  await refused(t, encodeOnnx(linearModel({ extra: { opsets: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }], functions: [body] } })), 'unknown_operator', /Spawn/);
});

t.test('onnx operators — a custom operator hidden in an If body is found', async (t) => {
  const body = rawGraph('then', [rawNode('Backdoor', ['x'], ['y'], [pbBytes(7, 'com.evil')])]);
  const m = rawModel(rawGraph('main', [rawNode('If', ['c'], ['y'], [pbBytes(5, rawGraphAttr('then_branch', body))])]), { opsets: [rawOpset('', 17), rawOpset('com.evil', 1)] });
  const r = await refused(t, m, 'custom_domain');
  t.match(r.evidence.problems, [{ where: 'opset_import' }, { where: /main\/\/If\.then_branch node/ }]);
});

t.test('onnx operators — the whole pipeline rejects at stage 2 and runs nothing after it', async (t) => {
  const out = await runPipeline(artifact(writeTo(tempDir(t), 'evil.onnx', evil({ opsets: [{ domain: '', version: 17 }, { domain: 'com.evil', version: 1 }] }))));
  t.equal(out.outcome, 'rejected');
  t.same(out.results.map((r) => `${r.stage}:${r.verdict}`), ['source:warn', 'format:fail']);
});
