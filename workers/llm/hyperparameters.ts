// Checks a GGUF's hyperparameters before llama.cpp sees it: a missing one can abort the whole process (GGML_ASSERT).
import { open } from 'node:fs/promises';
import { readGgufFileInfo } from 'node-llama-cpp';
import { ErrorCode, SecaiError } from '../../common/errors.js';

/** Keys every supported architecture must carry, as `<arch>.<key>` positive integers. */
const REQUIRED_INTS = ['context_length', 'embedding_length', 'block_count', 'feed_forward_length', 'attention.head_count'] as const;
const ARCHITECTURES = new Set(['llama', 'mistral', 'qwen2', 'qwen3', 'gemma', 'gemma2', 'gemma3', 'phi3', 'granite', 'olmo', 'stablelm']);

export interface Hyperparameters {
  architecture: string;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  headCount: number;
}

function lookup(meta: unknown, dotted: string): unknown {
  let cur: unknown = meta;
  for (const k of dotted.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

async function checkMagic(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(24);
    const { bytesRead } = await fh.read(b, 0, 24, 0);
    const version = b.readUInt32LE(4);
    if (bytesRead < 24 || b.toString('latin1', 0, 4) !== 'GGUF' || (version !== 2 && version !== 3)) {
      throw new SecaiError(ErrorCode.MODEL_INVALID, 'not a GGUF v2/v3 file');
    }
  } finally {
    await fh.close();
  }
}

/** Reads the header with node-llama-cpp's JS parser (no native code) and refuses what llama.cpp would choke on. */
export async function checkHyperparameters(path: string): Promise<Hyperparameters> {
  await checkMagic(path);
  let info;
  let timer: NodeJS.Timeout | undefined;
  try {
    // The reader waits forever on some truncated headers: give it a deadline.
    info = await Promise.race([
      readGgufFileInfo(path, { readTensorInfo: true, sourceType: 'filesystem', logWarnings: false, ignoreKeys: [] }),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('header not parsed within 5 s (truncated?)')), 5000); }),
    ]);
  } catch (err) {
    throw new SecaiError(ErrorCode.MODEL_INVALID, `not a readable GGUF: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  const meta = info.metadata as unknown;
  const arch = lookup(meta, 'general.architecture');
  if (typeof arch !== 'string' || !ARCHITECTURES.has(arch)) {
    throw new SecaiError(ErrorCode.MODEL_INVALID, `unsupported or missing general.architecture '${String(arch)}'`);
  }
  const ints: Record<string, number> = {};
  for (const k of REQUIRED_INTS) {
    const v = lookup(meta, `${arch}.${k}`);
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
      throw new SecaiError(ErrorCode.MODEL_INVALID, `hyperparameter ${arch}.${k} is missing or not a positive integer`);
    }
    ints[k] = n;
  }
  if (ints['embedding_length']! % ints['attention.head_count']! !== 0) {
    throw new SecaiError(ErrorCode.MODEL_INVALID, `${arch}.embedding_length is not a multiple of attention.head_count`);
  }
  const eps = lookup(meta, `${arch}.attention.layer_norm_rms_epsilon`);
  if (typeof eps !== 'number' || !(eps > 0)) throw new SecaiError(ErrorCode.MODEL_INVALID, `${arch}.attention.layer_norm_rms_epsilon is missing`);
  const tokens = lookup(meta, 'tokenizer.ggml.tokens');
  if (typeof lookup(meta, 'tokenizer.ggml.model') !== 'string' || !Array.isArray(tokens) || tokens.length === 0) {
    throw new SecaiError(ErrorCode.MODEL_INVALID, 'tokenizer.ggml.model or tokenizer.ggml.tokens is missing');
  }
  const names = new Set((info.fullTensorInfo ?? info.tensorInfo ?? []).map((t) => t.name));
  for (const t of ['token_embd.weight', 'output_norm.weight']) {
    if (!names.has(t)) throw new SecaiError(ErrorCode.MODEL_INVALID, `tensor ${t} is missing`);
  }
  return {
    architecture: arch, contextLength: ints['context_length']!, embeddingLength: ints['embedding_length']!,
    blockCount: ints['block_count']!, headCount: ints['attention.head_count']!,
  };
}
