// Chat templates that assemble a sandbox-escape name at run time (concatenation, filters, format, slices, escapes, variables): stage 5 folds them and fails them.
import t, { type Test } from 'tap';
import { scanTemplate, type TemplateFinding } from '../../actors/quarantine/scan/jinja-scan.js';
import { DEFAULT_STATIC_SCAN_OPTIONS, riskScore, staticScanStage, type Finding } from '../../actors/quarantine/stages/static-scan.js';
import { BENIGN_CHAT_TEMPLATES } from '../fixtures/chat-templates.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { artifact, noProgress, tempDir, writeTo } from '../quarantine/helpers.js';

const { failScore, severityWeights } = DEFAULT_STATIC_SCAN_OPTIONS;
const risk = (fs: TemplateFinding[]) => riskScore(fs.map((f) => ({ ...f, where: 'chat_template' })), severityWeights);

/** Each evasion form: the template, and the name it hides (which the finding's evidence must show, folded). */
const EVASIONS: ReadonlyArray<{ form: string; template: string; name: string }> = [
  { form: 'string concatenation with +', template: "{{ ''['__cla' + 'ss__'] }}", name: '__class__' },
  { form: 'string concatenation with ~', template: "{{ ''['__cla' ~ 'ss__']['__mr' ~ 'o__'] }}", name: '__mro__' },
  { form: 'a list joined with |join', template: "{{ ''[['__cla', 'ss__']|join]['__mro__'[2:] and ['__subcla', 'sses__']|join]() }}", name: '__subclasses__' },
  { form: "'%s'|format(...)", template: "{{ ''['%sclass%s'|format('__', '__')] }}", name: '__class__' },
  { form: "the % operator", template: "{{ ''['%sglobals%s' % ('__', '__')] }}", name: '__globals__' },
  { form: "'%c'|format with character codes", template: "{{ ''['%c%cclass%c%c'|format(95, 95, 95, 95)] }}", name: '__class__' },
  { form: 'the .format() method', template: "{{ ''['{0}class{0}'.format('__')] }}", name: '__class__' },
  { form: 'attr() with a computed argument', template: "{{ messages|attr('__cla' ~ 'ss__') }}", name: '__class__' },
  { form: '|reverse', template: "{{ ''[('__ssa' ~ 'lc__')|reverse] }}", name: '__class__' },
  { form: 'a [::-1] slice', template: "{{ ''[('__tini' ~ '__')[::-1]] }}", name: '__init__' },
  { form: 'a stepped slice', template: "{{ ''['_x_xcxlxaxsxsx_x_'[::2]] }}", name: '__class__' },
  { form: '|lower', template: "{{ ''[('_' ~ '_CLASS_' ~ '_')|lower] }}", name: '__class__' },
  { form: '|upper of a lower-case payload (a case trick)', template: "{{ x[('_' ~ '_builtins_' ~ '_')|upper|lower] }}", name: '__builtins__' },
  { form: '\\x5f escapes split over a concatenation', template: "{{ ''['\\x5f\\x5fcla' ~ 'ss\\x5f\\x5f'] }}", name: '__class__' },
  { form: '\\u005f escapes split over a concatenation', template: "{{ ''['\\u005f\\u005fimp' ~ 'ort\\u005f\\u005f'] }}", name: '__import__' },
  { form: 'variables assigned by set', template: "{% set a = '__glo' %}{% set b = 'bals__' %}{{ cfg[a ~ b] }}", name: '__globals__' },
  { form: 'a namespace field', template: "{% set ns = namespace(k='__cla' ~ 'ss__') %}{{ ''[ns.k] }}", name: '__class__' },
  { form: 'a block set', template: "{% set k %}__cla{{ 'ss__' }}{% endset %}{{ ''[k] }}", name: '__class__' },
  { form: "''.join(list)", template: "{{ ''[''.join(['__cla', 'ss__'])] }}", name: '__class__' },
  { form: "an 'or' that returns its operand", template: "{{ ''[(none or '__cla') ~ 'ss__'] }}", name: '__class__' },
  { form: 'a dict lookup', template: "{{ ''[{'k': '__cla' ~ 'ss__'}['k']] }}", name: '__class__' },
  { form: 'a replace() that removes padding', template: "{{ ''['_X_clXass_X_'|replace('X', '')] }}", name: '__class__' },
  { form: 'a module name (popen)', template: "{{ x['po' ~ 'pen']('id') }}", name: 'popen' },
  { form: 'a module name (os) from |first and |last', template: "{{ x[['o']|first ~ ['s']|last] }}", name: 'os' },
  { form: 'the keys of dict(...) joined', template: "{{ ''[dict(_a=1, _b=2)|join] }}", name: '_a_b' },
  { form: 'selectattr with a computed attribute', template: "{{ messages|selectattr('__cla' ~ 'ss__')|list }}", name: '__class__' },
  { form: 'map(attribute=) with a computed attribute', template: "{{ messages|map(attribute='__in' ~ 'it__')|list }}", name: '__init__' },
];

for (const e of EVASIONS) {
  t.test(`jinja evasion — ${e.form} is folded to ${e.name} and fails`, async (t) => {
    const fs = scanTemplate(e.template);
    const hit = fs.find((f) => f.severity === 'critical' && f.detail.includes(`"${e.name}"`));
    t.ok(hit, `a critical finding names ${e.name}: ${JSON.stringify(fs)}`);
    t.ok(risk(fs) >= failScore, `risk ${risk(fs)} reaches the fail score`);
  });
}

t.test('jinja evasion — map() with the attr filter by name is attr()', async (t) => {
  const fs = scanTemplate("{{ messages|map('attr', 'x')|list }}");
  t.ok(fs.some((f) => f.severity === 'critical' && f.rule === 'attr_filter'), JSON.stringify(fs));
});

t.test('jinja evasion — namespace used as a value (not called) is a dangerous global', async (t) => {
  const fs = scanTemplate('{% set n = namespace %}{{ n }}');
  t.ok(fs.some((f) => f.severity === 'critical' && f.rule === 'dangerous_global' && /namespace/.test(f.detail)), JSON.stringify(fs));
});

t.test('jinja evasion — a computed key is suspect even when it folds to a harmless name', async (t) => {
  const fs = scanTemplate("{% for m in messages %}{{ m['ro' ~ 'le'] }}{% endfor %}");
  const f = fs.find((x) => x.rule === 'computed_subscript');
  t.ok(f, JSON.stringify(fs));
  t.match(f!.detail, /"role"/);
  t.ok(risk(fs) >= failScore);
});

t.test('jinja evasion — a name accumulated in a loop cannot be folded and is still suspect', async (t) => {
  const fs = scanTemplate("{% set ns = namespace(s='') %}{% for c in ['_', '_', 'cla', 'ss', '_', '_'] %}{% set ns.s = ns.s ~ c %}{% endfor %}{{ ''[ns.s] }}");
  t.ok(fs.some((f) => f.rule === 'computed_subscript' && f.severity === 'high'), JSON.stringify(fs));
  t.ok(risk(fs) >= failScore);
});

t.test('jinja evasion — a macro parameter used as a key is suspect', async (t) => {
  const fs = scanTemplate("{% macro get(o, k) %}{{ o[k] }}{% endmacro %}{{ get('', '_' ~ '_class_' ~ '_') }}");
  t.ok(fs.some((f) => f.rule === 'computed_subscript'), JSON.stringify(fs));
  t.ok(fs.some((f) => f.rule === 'computed_name' && f.detail.includes('"__class__"')), JSON.stringify(fs));
});

t.test('jinja evasion — letters taken from the str() of template-made objects are suspect', async (t) => {
  for (const template of [
    "{{ ''[[([1]|select|string)[24], ([1]|select|string)[24], 'class']|join] }}",
    "{{ ''[(dict|string)[1:6]] }}",
    "{{ x[[(range|string)[1], (lipsum|string)[0]]|join] }}",
    "{{ ''[([1].pop|string)[20:23]] }}",
    "{% for m in messages %}{{ ''[(loop|string)[1:6]] }}{% endfor %}",
  ]) {
    const fs = scanTemplate(template);
    t.ok(fs.some((f) => f.rule === 'computed_subscript' || f.rule === 'computed_name'), `${template}: ${JSON.stringify(fs)}`);
    t.ok(risk(fs) >= failScore, template);
  }
});

t.test('jinja evasion — a special token (set by the same model files) used as a key is suspect', async (t) => {
  const fs = scanTemplate("{{ ''[bos_token][eos_token[1:]] }}");
  t.ok(fs.some((f) => f.rule === 'computed_subscript'), JSON.stringify(fs));
  t.ok(risk(fs) >= failScore);
});

t.test('jinja evasion — a format string that reads an attribute of its argument is critical', async (t) => {
  const fs = scanTemplate("{{ ('{0.mr' ~ 'o}').format(x) }}{{ '%s'|format(x) }}");
  t.ok(fs.some((f) => f.rule === 'format_field_access' && f.severity === 'critical'), JSON.stringify(fs));
});

t.test('jinja evasion — escapes Python decodes but the parser does not (octal, \\N{}) fail closed as unparseable', async (t) => {
  for (const template of ["{{ ''['\\137\\137class\\137\\137'] }}", "{{ ''['\\N{LOW LINE}\\N{LOW LINE}class__'] }}"]) {
    const fs = scanTemplate(template);
    t.ok(fs.some((f) => f.rule === 'template_unparseable'), JSON.stringify(fs));
    t.ok(risk(fs) >= failScore, template);
  }
});

t.test('jinja evasion — folding is bounded: a huge repetition is not built, deep nesting and huge trees are refused', async (t) => {
  const t0 = Date.now();
  const big = scanTemplate("{{ ''['_' * 1000000000] }}{{ ''[(['_'] * 1000000000)|join] }}{{ ''[([] * 1000000000)|join ~ '' * 1000000000] }}");
  t.ok(big.some((f) => f.rule === 'computed_subscript'), JSON.stringify(big));
  const deep = scanTemplate(`{{ ${'('.repeat(3000)}'x'${')'.repeat(3000)} }}`);
  t.ok(risk(deep) >= failScore, `deep nesting refused: ${JSON.stringify(deep).slice(0, 200)}`);
  const wide = scanTemplate('{{ 1 }}'.repeat(60_000));
  t.ok(wide.some((f) => f.rule === 'template_too_complex'), JSON.stringify(wide).slice(0, 200));
  const chain = scanTemplate(`{% set a0 = '_' %}${Array.from({ length: 300 }, (_, i) => `{% set a${i + 1} = a${i} ~ a${i} %}`).join('')}{{ ''[a300] }}`);
  t.ok(risk(chain) >= failScore, JSON.stringify(chain).slice(0, 200));
  t.ok(Date.now() - t0 < 20_000, `bounded time: ${Date.now() - t0} ms`);
});

for (const [name, template] of Object.entries(BENIGN_CHAT_TEMPLATES)) {
  t.test(`jinja evasion — the benign ${name} template stays at risk 0`, async (t) => {
    t.same(scanTemplate(template), []);
  });
}

async function stage5(t: Test, template: string) {
  const dir = tempDir(t);
  const p = writeTo(dir, 'm.gguf', encodeGguf(llamaSpec({ layers: 2, dims: 64, ff: 64, template })));
  const r = await staticScanStage(artifact(p), DEFAULT_STATIC_SCAN_OPTIONS, noProgress);
  return { r, findings: r.evidence.findings as Finding[] };
}

const END_TO_END = ['string concatenation with ~', 'a list joined with |join', "'%s'|format(...)", '|reverse', '\\x5f escapes split over a concatenation', 'variables assigned by set', 'attr() with a computed argument'];
for (const form of END_TO_END) {
  const e = EVASIONS.find((x) => x.form === form)!;
  t.test(`jinja evasion — stage 5 fails a GGUF whose tokenizer.chat_template hides ${e.name} by ${form}`, async (t) => {
    const { r, findings } = await stage5(t, e.template);
    t.equal(r.verdict, 'fail', r.reason);
    t.ok(findings.some((f) => f.severity === 'critical' && f.where.endsWith('tokenizer.chat_template') && f.detail.includes(`"${e.name}"`)), JSON.stringify(findings));
  });
}

t.test('jinja evasion — stage 5 passes GGUFs carrying the benign templates at risk 0', async (t) => {
  for (const [name, template] of Object.entries(BENIGN_CHAT_TEMPLATES)) {
    const { r } = await stage5(t, template);
    t.equal(r.verdict, 'pass', `${name}: ${r.reason}`);
    t.equal(r.evidence.score, 0, name);
  }
});
