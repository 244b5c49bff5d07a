// Walks pickle opcodes (protocols 0–5) without executing anything and lists the globals a load would import, rated like ModelScan.

export type GlobalRating = 'critical' | 'high' | 'medium' | 'safe';

export interface PickleGlobal {
  module: string;
  name: string;
  rating: GlobalRating;
  opcode: 'GLOBAL' | 'INST' | 'STACK_GLOBAL';
}

export interface PickleScan {
  /** The stream parsed up to a STOP opcode. */
  complete: boolean;
  protocol: number;
  globals: PickleGlobal[];
  reduceCount: number;
  opcodes: number;
  /** Why the walk stopped early, if it did. */
  error?: string;
  /** Bytes consumed up to and including STOP. */
  length: number;
}

/** Whole modules whose import alone means code execution or I/O on load (ModelScan's unsafe_globals, CRITICAL). */
const CRITICAL_MODULES = new Set([
  'os', 'posix', 'nt', 'subprocess', 'sys', 'socket', 'shutil', 'runpy', 'pty', 'commands', 'pickle', '_pickle', 'dill',
  'marshal', 'ctypes', 'importlib', 'code', 'codeop', 'pdb', 'bdb', 'asyncio', 'multiprocessing', 'signal', 'tempfile', 'platform', 'types',
]);
const CRITICAL_BUILTINS = new Set(['eval', 'exec', 'execfile', 'compile', 'getattr', 'setattr', 'delattr', 'apply', 'open', 'breakpoint', '__import__', 'input', 'globals', 'locals', 'vars']);
/** Network and browser modules (ModelScan HIGH). */
const HIGH_MODULES = new Set(['webbrowser', 'httplib', 'http', 'requests', 'aiohttp', 'urllib', 'urllib2', 'urllib3', 'ftplib', 'smtplib', 'telnetlib']);
const OPERATOR_CRITICAL = new Set(['attrgetter', 'methodcaller', 'itemgetter']);

/** Globals a PyTorch or NumPy checkpoint legitimately imports. */
const SAFE_GLOBALS = new Set([
  'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state', 'torch.FloatStorage', 'torch.HalfStorage', 'torch.BFloat16Storage', 'torch.DoubleStorage',
  'torch.LongStorage', 'torch.IntStorage', 'torch.ShortStorage', 'torch.CharStorage', 'torch.ByteStorage', 'torch.BoolStorage',
  'torch.float16', 'torch.float32', 'torch.bfloat16', 'torch.Size', 'numpy.core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype',
  'numpy._core.multiarray._reconstruct', 'builtins.set', 'builtins.frozenset', 'builtins.bytearray', 'builtins.slice', 'builtins.complex',
  '__builtin__.set', 'torch._tensor._rebuild_from_type_v2',
]);

export function rateGlobal(module: string, name: string): GlobalRating {
  const top = module.split('.')[0]!;
  if (SAFE_GLOBALS.has(`${module}.${name}`)) return 'safe';
  if (module === 'builtins' || module === '__builtin__' || module === '__builtins__') return CRITICAL_BUILTINS.has(name) ? 'critical' : 'high';
  if (module === 'operator' || module === '_operator') return OPERATOR_CRITICAL.has(name) ? 'critical' : 'high';
  if (CRITICAL_MODULES.has(top)) return 'critical';
  if (HIGH_MODULES.has(top)) return 'high';
  if (module === 'torch.storage' || (top === 'torch' && /Storage$/.test(name))) return 'safe';
  return 'high'; // unknown globals: we cannot tell what they do on load
}

// Argument shapes of every opcode: fixed byte count, a length prefix of n bytes, or newline-terminated line(s).
type Arg = { fixed: number } | { lenPrefix: 1 | 4 | 8 } | { lines: 1 | 2 };
/** The opcode table, built once and never changed after. */
const OPS: ReadonlyMap<number, Arg> = (() => {
  const OPS = new Map<number, Arg>();
  const def = (chars: string, a: Arg) => { for (const ch of chars) OPS.set(ch.charCodeAt(0), a); };
  def('(.0123NQRabdeltsu}])osB', { fixed: 0 });
  OPS.delete('B'.charCodeAt(0));
  def('FILPSVgp', { lines: 1 });
  def('ci', { lines: 2 });
  def('J', { fixed: 4 }); def('K', { fixed: 1 }); def('M', { fixed: 2 }); def('G', { fixed: 8 });
  def('h', { fixed: 1 }); def('j', { fixed: 4 }); def('q', { fixed: 1 }); def('r', { fixed: 4 });
  def('T', { lenPrefix: 4 }); def('U', { lenPrefix: 1 }); def('X', { lenPrefix: 4 }); def('B', { lenPrefix: 4 }); def('C', { lenPrefix: 1 });
  const byte = (n: number, a: Arg) => OPS.set(n, a);
  byte(0x80, { fixed: 1 }); byte(0x81, { fixed: 0 }); byte(0x82, { fixed: 1 }); byte(0x83, { fixed: 2 }); byte(0x84, { fixed: 4 });
  for (const n of [0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98]) byte(n, { fixed: 0 });
  byte(0x8a, { lenPrefix: 1 }); byte(0x8b, { lenPrefix: 4 }); byte(0x8c, { lenPrefix: 1 }); byte(0x8d, { lenPrefix: 8 });
  byte(0x8e, { lenPrefix: 8 }); byte(0x95, { fixed: 8 }); byte(0x96, { lenPrefix: 8 });
  return OPS;
})();

const STRING_OPS = new Set(['S', 'V', 'T', 'U', 'X'].map((c) => c.charCodeAt(0)).concat([0x8c, 0x8d]));

/** True when `b` starts like a pickle: PROTO 2–5, or a protocol-0/1 opcode that a real pickle begins with. */
export function looksLikePickle(b: Uint8Array): boolean {
  if (b.length < 2) return false;
  if (b[0] === 0x80) return b[1]! >= 2 && b[1]! <= 5;
  return false;
}

/** Scans one pickle stream in `b` from `start`; never throws, never reads past `b`. */
export function scanPickle(b: Uint8Array, start = 0, maxOps = 5_000_000): PickleScan {
  const out: PickleScan = { complete: false, protocol: 0, globals: [], reduceCount: 0, opcodes: 0, length: 0 };
  const memo = new Map<number, string | null>();
  const recent: (string | null)[] = []; // values pushed, strings where known (for STACK_GLOBAL)
  const push = (v: string | null) => { recent.push(v); if (recent.length > 64) recent.shift(); };
  const latin1 = (s: number, e: number) => Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1');
  const utf8 = (s: number, e: number) => Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8');
  let p = start;
  const line = (): string | null => {
    const nl = b.indexOf(0x0a, p);
    if (nl < 0) return null;
    const s = latin1(p, nl);
    p = nl + 1;
    return s;
  };
  while (p < b.length) {
    if (++out.opcodes > maxOps) { out.error = 'too many opcodes'; return out; }
    const op = b[p++]!;
    const arg = OPS.get(op);
    if (!arg) { out.error = `unknown opcode 0x${op.toString(16)} at ${p - 1}`; return out; }
    if ('fixed' in arg) {
      if (p + arg.fixed > b.length) { out.error = 'truncated'; return out; }
      if (op === 0x80) out.protocol = b[p]!;
      const at = p;
      p += arg.fixed;
      if (op === 0x71 /* q BINPUT */) memo.set(b[at]!, recent.at(-1) ?? null);
      else if (op === 0x72 /* r LONG_BINPUT */) memo.set(Buffer.from(b.buffer, b.byteOffset + at, 4).readUInt32LE(0), recent.at(-1) ?? null);
      else if (op === 0x94 /* MEMOIZE */) memo.set(memo.size, recent.at(-1) ?? null);
      else if (op === 0x68 /* h BINGET */) push(memo.get(b[at]!) ?? null);
      else if (op === 0x6a /* j LONG_BINGET */) push(memo.get(Buffer.from(b.buffer, b.byteOffset + at, 4).readUInt32LE(0)) ?? null);
      else if (op === 0x93 /* STACK_GLOBAL */) {
        const name = recent.at(-1);
        const module = recent.at(-2);
        const m = typeof module === 'string' ? module : '?';
        const n = typeof name === 'string' ? name : '?';
        out.globals.push({ module: m, name: n, rating: m === '?' || n === '?' ? 'critical' : rateGlobal(m, n), opcode: 'STACK_GLOBAL' });
        recent.length = Math.max(0, recent.length - 2);
        push(null);
      } else if (op === 0x52 /* R REDUCE */ || op === 0x81 || op === 0x92) {
        out.reduceCount++;
        push(null);
      } else if (op === 0x2e /* . STOP */) {
        out.complete = true;
        out.length = p - start;
        return out;
      } else if (op !== 0x95 && op !== 0x28 && op !== 0x30 && op !== 0x31 && op !== 0x32) push(null);
    } else if ('lenPrefix' in arg) {
      if (p + arg.lenPrefix > b.length) { out.error = 'truncated'; return out; }
      const dv = Buffer.from(b.buffer, b.byteOffset + p, arg.lenPrefix);
      const n = arg.lenPrefix === 1 ? dv[0]! : arg.lenPrefix === 4 ? dv.readUInt32LE(0) : Number(dv.readBigUInt64LE(0));
      p += arg.lenPrefix;
      if (!Number.isSafeInteger(n) || p + n > b.length) { out.error = 'length runs past the end'; return out; }
      push(STRING_OPS.has(op) ? utf8(p, p + n) : null);
      p += n;
    } else {
      const first = line();
      if (first === null) { out.error = 'truncated line'; return out; }
      if (arg.lines === 2) {
        const second = line();
        if (second === null) { out.error = 'truncated line'; return out; }
        out.globals.push({ module: first, name: second, rating: rateGlobal(first, second), opcode: op === 0x63 ? 'GLOBAL' : 'INST' });
        push(null);
      } else if (op === 0x53 /* S */) push(first.replace(/^['"]|['"]$/g, ''));
      else if (op === 0x56 /* V */) push(first);
      else if (op === 0x70 /* p PUT */) memo.set(Number(first), recent.at(-1) ?? null);
      else if (op === 0x67 /* g GET */) push(memo.get(Number(first)) ?? null);
      else push(null);
    }
  }
  out.error = 'no STOP opcode';
  return out;
}

export const worstRating = (gs: readonly PickleGlobal[]): GlobalRating | 'none' => {
  for (const r of ['critical', 'high', 'medium', 'safe'] as const) if (gs.some((g) => g.rating === r)) return r;
  return 'none';
};
