// Classifies a tensor name (GGUF `blk.N.attn_q.weight` or Hugging Face `model.layers.N.self_attn.q_proj.weight`) into the role it plays.
// The role picks the absolute plausibility bounds of `weight-bounds.ts`; a name we do not know gets the generic bounds.

export const TENSOR_ROLES = [
  'token_embd', 'position_embd', 'output',
  'attn_q', 'attn_k', 'attn_v', 'attn_qkv', 'attn_output',
  'ffn_gate', 'ffn_up', 'ffn_down', 'ffn_gate_up', 'ffn_router',
  'norm', 'bias', 'rope_freqs', 'generic',
] as const;
export type TensorRole = (typeof TENSOR_ROLES)[number];

export interface RoleOf {
  role: TensorRole;
  /** The block (layer) index when the name carries one: blk.3 / layers.3 / h.3 / layer.3 / block.3. */
  layer: number | null;
}

// GGUF names (llama.cpp gguf-py `constants.py` TENSOR_NAMES): the module segment before `.weight`.
const GGUF: Record<string, TensorRole> = {
  token_embd: 'token_embd', token_types: 'position_embd', position_embd: 'position_embd', output: 'output',
  attn_q: 'attn_q', attn_q_a: 'attn_q', attn_q_b: 'attn_q',
  attn_k: 'attn_k', attn_k_b: 'attn_k', attn_kv_a_mqa: 'attn_k', attn_kv_b: 'attn_k',
  attn_v: 'attn_v', attn_v_b: 'attn_v',
  attn_qkv: 'attn_qkv', attn_output: 'attn_output', attn_out: 'attn_output',
  ffn_gate: 'ffn_gate', ffn_gate_exps: 'ffn_gate', ffn_gate_shexp: 'ffn_gate', ffn_gate_chexps: 'ffn_gate',
  ffn_up: 'ffn_up', ffn_up_exps: 'ffn_up', ffn_up_shexp: 'ffn_up', ffn_up_chexps: 'ffn_up',
  ffn_down: 'ffn_down', ffn_down_exps: 'ffn_down', ffn_down_shexp: 'ffn_down', ffn_down_chexps: 'ffn_down',
  ffn_gate_inp: 'ffn_router', ffn_gate_inp_shexp: 'ffn_router',
  rope_freqs: 'rope_freqs', rope_factors_long: 'rope_freqs', rope_factors_short: 'rope_freqs',
};

// Hugging Face module names (Llama/Mistral/Qwen/Gemma `*_proj`, GPT-2 `c_*`, GPT-NeoX/Falcon/Phi/BERT/T5/CLIP spellings).
const HF_EMBED: Record<string, TensorRole> = {
  embed_tokens: 'token_embd', wte: 'token_embd', word_embeddings: 'token_embd', token_embedding: 'token_embd',
  embed_in: 'token_embd', shared: 'token_embd', tok_embeddings: 'token_embd',
  wpe: 'position_embd', position_embedding: 'position_embd', position_embeddings: 'position_embd',
  embed_positions: 'position_embd', token_type_embeddings: 'position_embd',
  lm_head: 'output', embed_out: 'output',
};
const HF_ATTN: Record<string, TensorRole> = {
  q_proj: 'attn_q', query: 'attn_q', wq: 'attn_q', q: 'attn_q',
  k_proj: 'attn_k', key: 'attn_k', wk: 'attn_k', k: 'attn_k',
  v_proj: 'attn_v', value: 'attn_v', wv: 'attn_v', v: 'attn_v',
  qkv_proj: 'attn_qkv', c_attn: 'attn_qkv', query_key_value: 'attn_qkv', wqkv: 'attn_qkv', in_proj: 'attn_qkv',
  o_proj: 'attn_output', out_proj: 'attn_output', dense: 'attn_output', c_proj: 'attn_output', wo: 'attn_output', o: 'attn_output',
};
const HF_FFN: Record<string, TensorRole> = {
  gate_proj: 'ffn_gate', w1: 'ffn_gate', wi_0: 'ffn_gate',
  up_proj: 'ffn_up', w3: 'ffn_up', c_fc: 'ffn_up', fc1: 'ffn_up', dense_h_to_4h: 'ffn_up', wi: 'ffn_up', wi_1: 'ffn_up', fc_in: 'ffn_up',
  down_proj: 'ffn_down', w2: 'ffn_down', c_proj: 'ffn_down', fc2: 'ffn_down', dense_4h_to_h: 'ffn_down', wo: 'ffn_down', fc_out: 'ffn_down',
  gate_up_proj: 'ffn_gate_up', gate: 'ffn_router', router: 'ffn_router',
};

const ATTN_CONTEXT = /^(?:self_?attn|self_?attention|attn|attention|encdecattention|cross_?attn)$/i;
const FFN_CONTEXT = /^(?:mlp|ffn|feed_forward|densereludense|block_sparse_moe|experts|shared_experts?|moe)$/i;
// Norm gains: GGUF `*_norm`, HF `input_layernorm`, `post_attention_layernorm`, `norm`, `q_norm`, `ln_1`, `ln_f`,
// `final_layernorm`, `layer_norm1`, BERT `LayerNorm`, diffusers `norm1`/`norm_out`.
const NORM = /(?:^|_)(?:norm\d*|layernorm\d*|layer_norm\d*|rmsnorm)(?:_|$)|^ln(?:_?\d+|_f|f)?$|^norm/i;
const LAYER = /^(?:blk|layers?|h|block|blocks)$/i;

/** The role of the tensor `name`, and its layer index when it has one. */
export function tensorRole(name: string): RoleOf {
  const parts = name.split('.');
  let layer: number | null = null;
  for (let i = 1; i < parts.length; i++) {
    if (/^\d+$/.test(parts[i]!) && LAYER.test(parts[i - 1]!)) { layer = Number(parts[i]); break; }
  }
  const last = parts.at(-1)!;
  // `.bias` (linear and LayerNorm β) shares the bias bounds, whatever its module.
  if (last === 'bias' || last === 'beta') return { role: 'bias', layer };
  const isParam = last === 'weight' || last === 'gamma';
  const mod = isParam ? (parts.at(-2) ?? '') : last;
  // GGUF: per-layer `blk.N.<module>.weight`, or a top-level `<module>.weight` (token_embd, output, rope_freqs).
  if (isParam && Object.hasOwn(GGUF, mod) && (parts[0] === 'blk' || parts.length === 2)) return { role: GGUF[mod]!, layer };
  if (NORM.test(mod) || last === 'gamma') return { role: 'norm', layer };
  if (Object.hasOwn(HF_EMBED, mod)) return { role: HF_EMBED[mod]!, layer };
  const context = parts.slice(0, isParam ? -2 : -1);
  const inAttn = context.some((c) => ATTN_CONTEXT.test(c));
  const inFfn = context.some((c) => FFN_CONTEXT.test(c) || /^experts?$/.test(c));
  const key = mod.toLowerCase();
  if (inFfn && !inAttn && Object.hasOwn(HF_FFN, key)) return { role: HF_FFN[key]!, layer };
  if (inAttn && Object.hasOwn(HF_ATTN, key)) return { role: HF_ATTN[key]!, layer };
  // Without a telling context, only the unambiguous spellings count.
  if (!inAttn && !inFfn) {
    if (/^(?:q_proj|k_proj|v_proj|qkv_proj|o_proj|c_attn|query_key_value|wqkv)$/.test(key)) return { role: HF_ATTN[key]!, layer };
    if (/^(?:gate_proj|up_proj|down_proj|gate_up_proj|dense_h_to_4h|dense_4h_to_h|c_fc|fc1|fc2)$/.test(key)) return { role: HF_FFN[key]!, layer };
  }
  return { role: 'generic', layer };
}
