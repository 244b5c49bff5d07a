// Reads and checks an Optimum ONNX Stable Diffusion folder: which files the pipeline reads, their hashes, its configs.
import { lstat, open, readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { fileHasher } from '../../common/hash-file.js';
import { DIFFUSION_LIMITS, type ModelFile } from './protocol.js';

/** The files of the layout `optimum-cli export onnx` writes for a Stable Diffusion pipeline. */
export const FOLDER = {
  modelIndex: 'model_index.json',
  schedulerConfig: 'scheduler/scheduler_config.json',
  vocab: 'tokenizer/vocab.json',
  merges: 'tokenizer/merges.txt',
  tokenizerConfig: 'tokenizer/tokenizer_config.json',
  textEncoder: 'text_encoder/model.onnx',
  unet: 'unet/model.onnx',
  unetConfig: 'unet/config.json',
  vaeDecoder: 'vae_decoder/model.onnx',
  vaeDecoderConfig: 'vae_decoder/config.json',
  vaeEncoder: 'vae_encoder/model.onnx',
} as const;

const REQUIRED = [FOLDER.modelIndex, FOLDER.schedulerConfig, FOLDER.vocab, FOLDER.merges, FOLDER.textEncoder, FOLDER.unet, FOLDER.vaeDecoder, FOLDER.vaeDecoderConfig];
/** onnxruntime opens whatever external-data file a model names next to it: every file in these folders counts as read. */
const SESSION_DIRS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'];
const OPTIONAL_FILES = [FOLDER.tokenizerConfig, FOLDER.unetConfig];

const invalid = (message: string, cause?: unknown): SecaiError => new SecaiError(ErrorCode.MODEL_INVALID, message, cause === undefined ? undefined : { cause });
const errMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function kind(path: string): Promise<'file' | 'dir' | 'absent' | 'other'> {
  try {
    const s = await lstat(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw invalid(`cannot read ${path}: ${errMessage(err)}`, err);
  }
}

/**
 * Every file the pipeline reads, relative to `dir`, sorted: the configs and tokenizer files, and every file under the
 * session folders (external weight data included). A link or a special file there is refused: it could lead outside.
 */
export async function pipelineFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const rel of REQUIRED) {
    const k = await kind(join(dir, rel));
    if (k === 'absent') throw invalid(`not a Stable Diffusion ONNX folder: ${rel} is missing`);
    if (k !== 'file') throw invalid(`${rel} is not a regular file`);
  }
  for (const rel of OPTIONAL_FILES) {
    const k = await kind(join(dir, rel));
    if (k === 'file') out.push(rel);
    else if (k !== 'absent') throw invalid(`${rel} is not a regular file`);
  }
  out.push(FOLDER.modelIndex, FOLDER.schedulerConfig, FOLDER.vocab, FOLDER.merges);
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (depth > 4) throw invalid(`${rel}: folders nested too deep`);
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const child = `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(child, depth + 1);
      else if (e.isFile()) out.push(child);
      else throw invalid(`${child} is a link or a special file: refused (it could lead outside the model folder)`);
      if (out.length > DIFFUSION_LIMITS.files) throw invalid(`more than ${DIFFUSION_LIMITS.files} files in the model folder`);
    }
  };
  for (const d of SESSION_DIRS) {
    const k = await kind(join(dir, d));
    if (k === 'dir') await walk(d, 1);
    else if (k !== 'absent') throw invalid(`${d} is not a folder`);
  }
  return [...new Set(out)].sort();
}

/**
 * Re-hashes every listed file (links not followed) and checks that the list covers every file the pipeline reads:
 * the hashes the registry recorded at promotion are checked here, in the sandbox, before any session is created.
 */
export async function verifyModelFiles(dir: string, files: readonly ModelFile[]): Promise<void> {
  const root = await realpath(dir).catch((err: unknown) => { throw invalid(`cannot open the model folder: ${errMessage(err)}`, err); });
  const hash = fileHasher({ noFollow: true });
  const listed = new Map<string, string>();
  for (const f of files) {
    if (listed.has(f.rel) && listed.get(f.rel) !== f.sha256) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `${f.rel} is listed twice with different hashes`);
    listed.set(f.rel, f.sha256);
  }
  for (const [rel, sha256] of listed) {
    const path = join(root, rel);
    // A link in any folder on the way would be followed by onnxruntime: the resolved path must be the listed one.
    const real = await realpath(path).catch((err: unknown) => { throw invalid(`cannot read ${rel}: ${errMessage(err)}`, err); });
    if (real !== path) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `${rel} resolves elsewhere (a link): refused`);
    const actual = await hash(path).catch((err: unknown) => { throw invalid(`cannot read ${rel}: ${errMessage(err)}`, err); });
    if (actual.sha256 !== sha256) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `${rel} changed since promotion: sha256 ${actual.sha256} != ${sha256}`);
  }
  for (const rel of await pipelineFiles(root)) {
    if (!listed.has(rel)) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `${rel} is read by the pipeline but has no recorded hash: refused`);
  }
}

/** Reads a small file whole, refusing it past `max` bytes (a config is never megabytes; a vocabulary a few). */
export async function readBounded(dir: string, rel: string, max: number): Promise<string> {
  const fh = await open(join(dir, rel), 'r').catch((err: unknown) => { throw invalid(`cannot read ${rel}: ${errMessage(err)}`, err); });
  try {
    const { size } = await fh.stat();
    if (size > max) throw invalid(`${rel} is ${size} bytes, over its limit of ${max}`);
    return (await fh.readFile()).toString('utf8');
  } finally {
    await fh.close();
  }
}

async function readJson(dir: string, rel: string, max = 1 << 20): Promise<Record<string, unknown>> {
  const text = await readBounded(dir, rel, max);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw invalid(`${rel} is not JSON: ${errMessage(err)}`, err);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${rel} is not a JSON object`);
  return v as Record<string, unknown>;
}

const positiveInt = (v: unknown, what: string, max: number): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw invalid(`${what} must be an integer in 1..${max}, not ${JSON.stringify(v).slice(0, 40)}`);
  return v as number;
};

export interface ModelFolder {
  /** model_index.json `_class_name` ('' when absent). */
  className: string;
  /** scheduler/scheduler_config.json, parsed JSON (the schedulers module checks it). */
  schedulerJson: Record<string, unknown>;
  tokenizer: { vocabJson: string; mergesTxt: string; tokenizerConfigJson?: string };
  /** Latents are divided by it before decoding and multiplied after encoding (diffusers' default 0.18215). */
  scalingFactor: number;
  /** 2^(len(block_out_channels) - 1): 8 for every Stable Diffusion VAE. */
  vaeScaleFactor: number;
  /** unet/config.json, when present. */
  unetInChannels: number | undefined;
  sampleSize: number | undefined;
  hasVaeEncoder: boolean;
}

/** Reads the configs and tokenizer files the pipeline needs; a missing or impossible value is SECAI_E_MODEL_INVALID. */
export async function readModelFolder(dir: string): Promise<ModelFolder> {
  await pipelineFiles(dir);
  const index = await readJson(dir, FOLDER.modelIndex);
  const className = typeof index._class_name === 'string' ? index._class_name.slice(0, 128) : '';
  const schedulerJson = await readJson(dir, FOLDER.schedulerConfig);
  const vocabJson = await readBounded(dir, FOLDER.vocab, 16 << 20);
  const mergesTxt = await readBounded(dir, FOLDER.merges, 16 << 20);
  const hasTokenizerConfig = (await kind(join(dir, FOLDER.tokenizerConfig))) === 'file';
  const tokenizerConfigJson = hasTokenizerConfig ? await readBounded(dir, FOLDER.tokenizerConfig, 1 << 20) : undefined;
  const vae = await readJson(dir, FOLDER.vaeDecoderConfig);
  const sf = vae.scaling_factor ?? 0.18215;
  if (typeof sf !== 'number' || !(sf > 0 && sf < 1000)) throw invalid(`${FOLDER.vaeDecoderConfig} scaling_factor must be a positive number`);
  const blocks = vae.block_out_channels;
  if (blocks !== undefined && (!Array.isArray(blocks) || blocks.length < 1 || blocks.length > 8)) {
    throw invalid(`${FOLDER.vaeDecoderConfig} block_out_channels must be a list of 1..8 numbers`);
  }
  const vaeScaleFactor = Array.isArray(blocks) ? 2 ** (blocks.length - 1) : 8;
  let unetInChannels: number | undefined;
  let sampleSize: number | undefined;
  if ((await kind(join(dir, FOLDER.unetConfig))) === 'file') {
    const unet = await readJson(dir, FOLDER.unetConfig);
    unetInChannels = positiveInt(unet.in_channels, `${FOLDER.unetConfig} in_channels`, 64);
    sampleSize = positiveInt(unet.sample_size, `${FOLDER.unetConfig} sample_size`, 1024);
  }
  return {
    className, schedulerJson,
    tokenizer: { vocabJson, mergesTxt, ...(tokenizerConfigJson !== undefined && { tokenizerConfigJson }) },
    scalingFactor: sf, vaeScaleFactor, unetInChannels, sampleSize,
    hasVaeEncoder: (await kind(join(dir, FOLDER.vaeEncoder))) === 'file',
  };
}
