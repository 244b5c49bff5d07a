// Checks the four ONNX sessions' inputs and outputs against what the pipeline feeds and reads, from their metadata,
// so a folder that would fail mid-generation (or be fed the wrong thing) is refused at load with its reason.
import type { InferenceSession } from 'onnxruntime-node';
import { ErrorCode, SecaiError } from '../../common/errors.js';

type Meta = InferenceSession.ValueMetadata;
type TensorMeta = Extract<Meta, { isTensor: true }>;

export interface SessionIo {
  readonly inputMetadata: readonly Meta[];
  readonly outputMetadata: readonly Meta[];
}

export interface PipelineIo {
  inputIdsType: 'int32' | 'int64';
  /** input_ids' fixed sequence length, when the export fixed it (the tokenizer then pads to it). */
  sequenceLength: number | undefined;
  /** The text hidden size, when the exports name it; 0 when both leave it symbolic. */
  hidden: number;
  timestepType: 'int64' | 'float32';
  /** How the timestep is shaped: a scalar, a fixed [1], or one per batch row. */
  timestepShape: 'scalar' | 'one' | 'batch';
  latentChannels: number;
  /** The VAE encoder's output: mean ‖ logvar (2C channels) or a latent (C); null without a vae_encoder. */
  encoderOutput: 'latent_parameters' | 'latent_sample' | null;
}

const invalid = (m: string) => new SecaiError(ErrorCode.MODEL_INVALID, m.slice(0, 1024));
const names = (ms: readonly Meta[]) => ms.map((m) => m.name).join(', ') || 'none';
const dim = (m: TensorMeta, i: number): number | undefined => (typeof m.shape[i] === 'number' ? m.shape[i] : undefined);

/** Why a UNet asks for more than sample, timestep and encoder_hidden_states, for the error message. */
const EXTRA_HINTS: Readonly<Record<string, string>> = {
  text_embeds: 'an SDXL UNet: not supported',
  time_ids: 'an SDXL UNet: not supported',
  timestep_cond: 'an LCM-distilled UNet (guidance embedding): not supported yet; an LCM-LoRA merged into SD 1.5 works',
};

function find(list: readonly Meta[], name: string, where: string, types: readonly string[], ranks: readonly number[]): TensorMeta {
  const m = list.find((x) => x.name === name);
  if (!m) throw invalid(`${where}: no "${name}" (it has: ${names(list)})`);
  if (!m.isTensor) throw invalid(`${where}: "${name}" is not a tensor`);
  if (!types.includes(m.type)) {
    const hint = m.type === 'float16' ? ' (a float16 export: export the pipeline in float32)' : '';
    throw invalid(`${where}: "${name}" is ${m.type}, not ${types.join(' or ')}${hint}`);
  }
  if (!ranks.includes(m.shape.length)) throw invalid(`${where}: "${name}" has rank ${m.shape.length}, not ${ranks.join(' or ')}`);
  return m;
}

/** Every input must be one the pipeline feeds: an unfed input fails only at the first run, with a worse message. */
function onlyInputs(io: SessionIo, fed: readonly string[], where: string): void {
  const extra = io.inputMetadata.map((m) => m.name).filter((n) => !fed.includes(n));
  if (!extra.length) return;
  const hint = extra.map((n) => EXTRA_HINTS[n]).find((h) => h !== undefined);
  throw invalid(`${where} needs inputs this pipeline does not feed: ${extra.slice(0, 8).join(', ')}${hint ? ` (${hint})` : ''}`);
}

function agree(what: string, values: readonly [string, number | undefined][]): number | undefined {
  const known = values.filter((v): v is [string, number] => v[1] !== undefined);
  const first = known[0];
  if (first && known.some((v) => v[1] !== first[1])) throw invalid(`${what} disagrees: ${known.map(([w, v]) => `${w} ${v}`).join(', ')}`);
  return first?.[1];
}

export function checkPipelineIo(s: { textEncoder: SessionIo; unet: SessionIo; vaeDecoder: SessionIo; vaeEncoder?: SessionIo | undefined }, unetInChannels?: number): PipelineIo {
  const te = 'text_encoder/model.onnx';
  const ids = find(s.textEncoder.inputMetadata, 'input_ids', `${te} input`, ['int32', 'int64'], [2]);
  onlyInputs(s.textEncoder, ['input_ids'], te);
  const hiddenStates = find(s.textEncoder.outputMetadata, 'last_hidden_state', `${te} output`, ['float32'], [3]);

  const un = 'unet/model.onnx';
  const sample = find(s.unet.inputMetadata, 'sample', `${un} input`, ['float32'], [4]);
  const timestep = find(s.unet.inputMetadata, 'timestep', `${un} input`, ['int64', 'float32'], [0, 1]);
  const ehs = find(s.unet.inputMetadata, 'encoder_hidden_states', `${un} input`, ['float32'], [3]);
  onlyInputs(s.unet, ['sample', 'timestep', 'encoder_hidden_states'], un);
  const out = find(s.unet.outputMetadata, 'out_sample', `${un} output`, ['float32'], [4]);

  const vd = 'vae_decoder/model.onnx';
  const latent = find(s.vaeDecoder.inputMetadata, 'latent_sample', `${vd} input`, ['float32'], [4]);
  onlyInputs(s.vaeDecoder, ['latent_sample'], vd);
  const image = find(s.vaeDecoder.outputMetadata, 'sample', `${vd} output`, ['float32'], [4]);
  if (dim(image, 1) !== undefined && dim(image, 1) !== 3) throw invalid(`${vd} output "sample" has ${dim(image, 1)} channels, not 3 (RGB)`);

  const hidden = agree('the text hidden size', [[`${te} last_hidden_state`, dim(hiddenStates, 2)], [`${un} encoder_hidden_states`, dim(ehs, 2)]]) ?? 0;
  const latentChannels = agree('the latent channel count', [
    ['unet/config.json in_channels', unetInChannels], [`${un} sample`, dim(sample, 1)], [`${un} out_sample`, dim(out, 1)], [`${vd} latent_sample`, dim(latent, 1)],
  ]) ?? 4;
  // An inpainting UNet takes 9 channels (latent + mask + masked image): feeding it 4 would not run.
  if (unetInChannels !== undefined && dim(latent, 1) === undefined && unetInChannels !== 4) throw invalid(`unet/config.json in_channels ${unetInChannels}: only 4-channel latents are supported`);

  let encoderOutput: PipelineIo['encoderOutput'] = null;
  if (s.vaeEncoder) {
    const ve = 'vae_encoder/model.onnx';
    const input = find(s.vaeEncoder.inputMetadata, 'sample', `${ve} input`, ['float32'], [4]);
    onlyInputs(s.vaeEncoder, ['sample'], ve);
    if (dim(input, 1) !== undefined && dim(input, 1) !== 3) throw invalid(`${ve} input "sample" has ${dim(input, 1)} channels, not 3 (RGB)`);
    const outs = s.vaeEncoder.outputMetadata.map((m) => m.name);
    encoderOutput = outs.includes('latent_parameters') ? 'latent_parameters' : outs.includes('latent_sample') ? 'latent_sample' : null;
    if (!encoderOutput) throw invalid(`${ve} output: no "latent_parameters" or "latent_sample" (it has: ${names(s.vaeEncoder.outputMetadata)})`);
    const o = find(s.vaeEncoder.outputMetadata, encoderOutput, `${ve} output`, ['float32'], [4]);
    const want = encoderOutput === 'latent_parameters' ? 2 * latentChannels : latentChannels;
    if (dim(o, 1) !== undefined && dim(o, 1) !== want) throw invalid(`${ve} output "${encoderOutput}" has ${dim(o, 1)} channels, not ${want}`);
  }

  const t0 = dim(timestep, 0);
  if (t0 !== undefined && t0 !== 1) throw invalid(`${un} input "timestep" has a fixed size ${t0}, not 1 or the batch`);
  return {
    inputIdsType: ids.type as 'int32' | 'int64',
    sequenceLength: dim(ids, 1),
    hidden,
    timestepType: timestep.type as 'int64' | 'float32',
    timestepShape: timestep.shape.length === 0 ? 'scalar' : t0 === 1 ? 'one' : 'batch',
    latentChannels,
    encoderOutput,
  };
}
