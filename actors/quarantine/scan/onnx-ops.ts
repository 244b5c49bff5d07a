// The operator policy for ONNX graphs: which operator-set domains and versions a model may use, and which operators exist in the standard ones.
import { canonicalDomain, type OnnxModelInfo, type OnnxNodeInfo, type OnnxOpset } from './onnx-parser.js';

/**
 * Every operator of the default domain (ai.onnx) through opset 23 (ONNX 1.18, docs/Operators.md), deprecated ones included
 * (Scatter, Upsample: still valid at the opsets that define them). An op_type outside this list in the default domain is
 * not a standard operator: a runtime would look for it in a custom library.
 */
export const ONNX_STANDARD_OPS: ReadonlySet<string> = new Set([
  'Abs', 'Acos', 'Acosh', 'Add', 'AffineGrid', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh', 'Attention',
  'AveragePool', 'BatchNormalization', 'Bernoulli', 'BitShift', 'BitwiseAnd', 'BitwiseNot', 'BitwiseOr', 'BitwiseXor',
  'BlackmanWindow', 'Cast', 'CastLike', 'Ceil', 'Celu', 'CenterCropPad', 'Clip', 'Col2Im', 'Compress', 'Concat',
  'ConcatFromSequence', 'Constant', 'ConstantOfShape', 'Conv', 'ConvInteger', 'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DFT',
  'DeformConv', 'DepthToSpace', 'DequantizeLinear', 'Det', 'Div', 'Dropout', 'DynamicQuantizeLinear', 'Einsum', 'Elu', 'Equal',
  'Erf', 'Exp', 'Expand', 'EyeLike', 'Flatten', 'Floor', 'GRU', 'Gather', 'GatherElements', 'GatherND', 'Gelu', 'Gemm',
  'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual', 'GridSample', 'GroupNormalization',
  'HammingWindow', 'HannWindow', 'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity', 'If', 'ImageDecoder', 'InstanceNormalization',
  'IsInf', 'IsNaN', 'LRN', 'LSTM', 'LayerNormalization', 'LeakyRelu', 'Less', 'LessOrEqual', 'Log', 'LogSoftmax', 'Loop',
  'LpNormalization', 'LpPool', 'MatMul', 'MatMulInteger', 'Max', 'MaxPool', 'MaxRoiPool', 'MaxUnpool', 'Mean',
  'MeanVarianceNormalization', 'MelWeightMatrix', 'Min', 'Mish', 'Mod', 'Mul', 'Multinomial', 'Neg', 'NegativeLogLikelihoodLoss',
  'NonMaxSuppression', 'NonZero', 'Not', 'OneHot', 'Optional', 'OptionalGetElement', 'OptionalHasElement', 'Or', 'PRelu', 'Pad',
  'Pow', 'QLinearConv', 'QLinearMatMul', 'QuantizeLinear', 'RMSNormalization', 'RNN', 'RandomNormal', 'RandomNormalLike',
  'RandomUniform', 'RandomUniformLike', 'Range', 'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'RegexFullMatch', 'Relu', 'Reshape',
  'Resize', 'ReverseSequence', 'RoiAlign', 'RotaryEmbedding', 'Round', 'STFT', 'Scan', 'Scatter', 'ScatterElements', 'ScatterND',
  'Selu', 'SequenceAt', 'SequenceConstruct', 'SequenceEmpty', 'SequenceErase', 'SequenceInsert', 'SequenceLength', 'SequenceMap',
  'Shape', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Size', 'Slice', 'Softmax', 'SoftmaxCrossEntropyLoss', 'Softplus',
  'Softsign', 'SpaceToDepth', 'Split', 'SplitToSequence', 'Sqrt', 'Squeeze', 'StringConcat', 'StringNormalizer', 'StringSplit',
  'Sub', 'Sum', 'Tan', 'Tanh', 'TfIdfVectorizer', 'ThresholdedRelu', 'Tile', 'TopK', 'Transpose', 'Trilu', 'Unique', 'Unsqueeze',
  'Upsample', 'Where', 'Xor',
]);

/** The ai.onnx.ml operators through ML opset 5 (docs/Operators-ml.md). */
export const ONNX_ML_OPS: ReadonlySet<string> = new Set([
  'ArrayFeatureExtractor', 'Binarizer', 'CastMap', 'CategoryMapper', 'DictVectorizer', 'FeatureVectorizer', 'Imputer',
  'LabelEncoder', 'LinearClassifier', 'LinearRegressor', 'Normalizer', 'OneHotEncoder', 'SVMClassifier', 'SVMRegressor', 'Scaler',
  'TreeEnsemble', 'TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'ZipMap',
]);

/** Domains whose operators are enumerated above: a node there must be one of them, and no model-local function may live there. */
const ENUMERATED: Readonly<Record<string, ReadonlySet<string>>> = { 'ai.onnx': ONNX_STANDARD_OPS, 'ai.onnx.ml': ONNX_ML_OPS };

export interface OnnxProblem { rule: string; where: string; detail: string }

/** Operator-set domains a model may import (the default domain spelled `ai.onnx`), each with the newest version accepted. */
export type OnnxOpsetPolicy = Readonly<Record<string, number>>;

export const DEFAULT_ONNX_OPSETS: OnnxOpsetPolicy = Object.freeze({ 'ai.onnx': 23, 'ai.onnx.ml': 5, 'com.microsoft': 1 });

const show = (d: string): string => (d === '' ? "'' (ai.onnx)" : `'${d.slice(0, 128)}'`);

function importProblems(opsets: readonly OnnxOpset[], policy: OnnxOpsetPolicy, where: string): OnnxProblem[] {
  const out: OnnxProblem[] = [];
  for (const o of opsets) {
    const d = canonicalDomain(o.domain);
    const max = Object.hasOwn(policy, d) ? policy[d]! : undefined;
    if (max === undefined) out.push({ rule: 'custom_domain', where, detail: `imports operator domain ${show(o.domain)}, not an allowed domain (${Object.keys(policy).join(', ')})` });
    else if (o.version > max) out.push({ rule: 'opset_too_new', where, detail: `imports ${show(o.domain)} opset ${o.version}, newer than the ${max} policy accepts` });
  }
  return out;
}

function nodeProblems(nodes: readonly OnnxNodeInfo[], opsets: readonly OnnxOpset[], policy: OnnxOpsetPolicy, functions: ReadonlySet<string>): OnnxProblem[] {
  const out: OnnxProblem[] = [];
  const imported = new Set(opsets.map((o) => canonicalDomain(o.domain)));
  for (const n of nodes) {
    const d = canonicalDomain(n.domain);
    const where = `${n.graph} node ${JSON.stringify(n.name.slice(0, 200))}`;
    const op = `${n.domain ? `${n.domain.slice(0, 128)}:` : ''}${n.opType.slice(0, 128)}`;
    if (!Object.hasOwn(policy, d)) out.push({ rule: 'custom_domain', where, detail: `operator ${op} is in domain ${show(n.domain)}, not an allowed domain: a custom operator` });
    else if (!imported.has(d)) out.push({ rule: 'domain_not_imported', where, detail: `operator ${op} uses domain ${show(n.domain)}, which the model does not import` });
    else if (ENUMERATED[d] && !ENUMERATED[d].has(n.opType) && !functions.has(`${d}\0${n.opType}`)) {
      out.push({ rule: 'unknown_operator', where, detail: `${op} is not a standard ${d} operator` });
    }
  }
  return out;
}

/** Every way the model's operators break the policy (empty: none), in model order, at most `max`. */
export function onnxOperatorProblems(m: OnnxModelInfo, policy: OnnxOpsetPolicy, max = 100): OnnxProblem[] {
  const out: OnnxProblem[] = [...importProblems(m.opsets, policy, 'opset_import')];
  // A model-local function defines an operator: outside the allowed domains it is a custom operator, and in an enumerated
  // domain it would replace or invent a standard one.
  const defined = new Set<string>();
  for (const f of m.functions) {
    const d = canonicalDomain(f.domain);
    const where = `function ${JSON.stringify(`${f.domain}:${f.name}`.slice(0, 200))}`;
    if (!Object.hasOwn(policy, d)) out.push({ rule: 'custom_domain', where, detail: `model-local function in domain ${show(f.domain)}, not an allowed domain: a custom operator` });
    else if (ENUMERATED[d]) out.push({ rule: 'unknown_operator', where, detail: `model-local function ${f.name.slice(0, 128)} defines an operator in the standard domain ${d}` });
    else defined.add(`${d}\0${f.name}`);
  }
  out.push(...nodeProblems(m.nodes, m.opsets, policy, defined));
  for (const f of m.functions) {
    out.push(...importProblems(f.opsets, policy, `function ${JSON.stringify(f.name.slice(0, 200))} opset_import`));
    out.push(...nodeProblems(f.nodes, f.opsets.length ? f.opsets : m.opsets, policy, defined));
    if (out.length >= max) break;
  }
  return out.slice(0, max);
}
