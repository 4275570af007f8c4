// The configuration of the engine's architectures as rewardlens uses it — GPT-NeoX (Pythia) and
// GPT-Neo — every field resolved, whatever form the Hugging Face config.json wrote it in
// (src/model/hf-config.ts parses and writes that file).

/** Activation of the MLP: exact erf GELU, or one of transformers' tanh approximations. */
export type NeoxActivation = 'gelu' | 'gelu_new' | 'gelu_fast' | 'gelu_pytorch_tanh';

/** Fields every architecture of the engine has. */
interface CausalLmConfigBase {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** MLP width (4 × hidden in Pythia and GPT-Neo). */
  intermediateSize: number;
  maxPositions: number;
  layerNormEps: number;
  hiddenAct: NeoxActivation;
  /** The output projection shares the input embedding's weights (no `embed_out.weight` / `lm_head.weight`). */
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
}

/** GPT-NeoX (Pythia): transformers' GPTNeoXForCausalLM. */
export interface GptNeoxConfig extends CausalLmConfigBase {
  modelType: 'gpt_neox';
  /** Fraction of each head's dimensions that rotary embeddings rotate (`rotary_pct`, or
   *  `rope_parameters.partial_rotary_factor` in transformers-5 configs). */
  rotaryPct: number;
  /** `rotary_emb_base`, or `rope_parameters.rope_theta`. */
  rotaryBase: number;
  /** h = x + attn(ln1(x)) + mlp(ln2(x)) when true; else sequential residuals. */
  parallelResidual: boolean;
  /** The query_key_value and dense projections carry biases (transformers' `attention_bias`, default true). */
  attentionBias: boolean;
}

/** One layer's attention in GPT-Neo: every earlier key, or only the last `windowSize` of them. */
export type GptNeoAttentionKind = 'global' | 'local';

/**
 * GPT-Neo: transformers' GPTNeoForCausalLM. Learned absolute positions (`wpe`, maxPositions rows)
 * beside `wte`; q/k/v projections without bias, out_proj with one; attention scores NOT scaled by
 * 1/√headDim; sequential residuals; no rotary.
 */
export interface GptNeoConfig extends CausalLmConfigBase {
  modelType: 'gpt_neo';
  /** Per layer (numLayers entries), `attention_types` expanded as transformers does. */
  attentionLayers: GptNeoAttentionKind[];
  /** A local layer lets query i attend key j when i − windowSize < j <= i (sequence indices,
   *  padding included). */
  windowSize: number;
}

/** The configuration of the engine (NeoxEngine): either architecture, told apart by modelType. */
export type NeoxConfig = GptNeoxConfig | GptNeoConfig;

/** Per-head width and the number of rotated dimensions, as transformers derives them (GPT-Neo: 0). */
export function neoxDerived(cfg: NeoxConfig): { headDim: number; rotaryDims: number } {
  const headDim = cfg.hiddenSize / cfg.numHeads;
  return { headDim, rotaryDims: cfg.modelType === 'gpt_neo' ? 0 : Math.floor(headDim * cfg.rotaryPct) };
}

/** Expands GPT-Neo's `attention_types` ([[kinds, n], …]: kinds repeated n times, in order). */
export function expandAttentionTypes(types: readonly (readonly [readonly GptNeoAttentionKind[], number])[]): GptNeoAttentionKind[] {
  const out: GptNeoAttentionKind[] = [];
  for (const [kinds, n] of types) for (let i = 0; i < n; i++) out.push(...kinds);
  return out;
}

/** The input embedding's name, which a tied output projection shares. */
export function embeddingName(cfg: NeoxConfig): string {
  return cfg.modelType === 'gpt_neo' ? 'transformer.wte.weight' : 'gpt_neox.embed_in.weight';
}

/** The output projection's name when untied (and the name checkpoints use for it when tied). */
export function outputProjectionName(cfg: NeoxConfig): string {
  return cfg.modelType === 'gpt_neo' ? 'lm_head.weight' : 'embed_out.weight';
}

/** Parameter names (Hugging Face's) and shapes of a GPT-Neo causal LM, in the engine's order: per
 *  layer ln_1, ln_2, then q, k, v (consecutive: one [3h,h] block natively), out_proj, c_fc, c_proj. */
function gptNeoParameterSpecs(cfg: GptNeoConfig, valueHead: boolean): { name: string; shape: number[] }[] {
  const h = cfg.hiddenSize;
  const I = cfg.intermediateSize;
  const specs: { name: string; shape: number[] }[] = [
    { name: 'transformer.wte.weight', shape: [cfg.vocabSize, h] },
    { name: 'transformer.wpe.weight', shape: [cfg.maxPositions, h] },
  ];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `transformer.h.${i}`;
    specs.push(
      { name: `${p}.ln_1.weight`, shape: [h] },
      { name: `${p}.ln_1.bias`, shape: [h] },
      { name: `${p}.ln_2.weight`, shape: [h] },
      { name: `${p}.ln_2.bias`, shape: [h] },
      { name: `${p}.attn.attention.q_proj.weight`, shape: [h, h] },
      { name: `${p}.attn.attention.k_proj.weight`, shape: [h, h] },
      { name: `${p}.attn.attention.v_proj.weight`, shape: [h, h] },
      { name: `${p}.attn.attention.out_proj.weight`, shape: [h, h] },
      { name: `${p}.attn.attention.out_proj.bias`, shape: [h] },
      { name: `${p}.mlp.c_fc.weight`, shape: [I, h] },
      { name: `${p}.mlp.c_fc.bias`, shape: [I] },
      { name: `${p}.mlp.c_proj.weight`, shape: [h, I] },
      { name: `${p}.mlp.c_proj.bias`, shape: [h] },
    );
  }
  specs.push({ name: 'transformer.ln_f.weight', shape: [h] }, { name: 'transformer.ln_f.bias', shape: [h] });
  if (!cfg.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, h] });
  if (valueHead) specs.push({ name: 'v_head.summary.weight', shape: [1, h] }, { name: 'v_head.summary.bias', shape: [1] });
  return specs;
}

/** Parameter names (Hugging Face's) and shapes of the causal LM, in a stable order (the engine's). */
export function neoxParameterSpecs(cfg: NeoxConfig, opts: { valueHead?: boolean } = {}): { name: string; shape: number[] }[] {
  if (cfg.modelType === 'gpt_neo') return gptNeoParameterSpecs(cfg, opts.valueHead ?? false);
  const h = cfg.hiddenSize;
  const I = cfg.intermediateSize;
  const specs: { name: string; shape: number[] }[] = [{ name: 'gpt_neox.embed_in.weight', shape: [cfg.vocabSize, h] }];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `gpt_neox.layers.${i}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, shape: [h] },
      { name: `${p}.input_layernorm.bias`, shape: [h] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
      { name: `${p}.post_attention_layernorm.bias`, shape: [h] },
      { name: `${p}.attention.query_key_value.weight`, shape: [3 * h, h] },
    );
    if (cfg.attentionBias) specs.push({ name: `${p}.attention.query_key_value.bias`, shape: [3 * h] });
    specs.push({ name: `${p}.attention.dense.weight`, shape: [h, h] });
    if (cfg.attentionBias) specs.push({ name: `${p}.attention.dense.bias`, shape: [h] });
    specs.push(
      { name: `${p}.mlp.dense_h_to_4h.weight`, shape: [I, h] },
      { name: `${p}.mlp.dense_h_to_4h.bias`, shape: [I] },
      { name: `${p}.mlp.dense_4h_to_h.weight`, shape: [h, I] },
      { name: `${p}.mlp.dense_4h_to_h.bias`, shape: [h] },
    );
  }
  specs.push({ name: 'gpt_neox.final_layer_norm.weight', shape: [h] }, { name: 'gpt_neox.final_layer_norm.bias', shape: [h] });
  if (!cfg.tieWordEmbeddings) specs.push({ name: 'embed_out.weight', shape: [cfg.vocabSize, h] });
  if (opts.valueHead) specs.push({ name: 'v_head.summary.weight', shape: [1, h] }, { name: 'v_head.summary.bias', shape: [1] });
  return specs;
}
