// The GPT-NeoX configuration as rewardlens uses it: every field resolved, whatever form the
// Hugging Face config.json wrote it in (src/model/hf-config.ts parses and writes that file).

/** Activation of the MLP: exact erf GELU, or one of transformers' tanh approximations. */
export type NeoxActivation = 'gelu' | 'gelu_new' | 'gelu_fast' | 'gelu_pytorch_tanh';

export interface NeoxConfig {
  modelType: 'gpt_neox';
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** MLP width (4 × hidden in Pythia). */
  intermediateSize: number;
  /** Fraction of each head's dimensions that rotary embeddings rotate (`rotary_pct`, or
   *  `rope_parameters.partial_rotary_factor` in transformers-5 configs). */
  rotaryPct: number;
  /** `rotary_emb_base`, or `rope_parameters.rope_theta`. */
  rotaryBase: number;
  maxPositions: number;
  layerNormEps: number;
  /** h = x + attn(ln1(x)) + mlp(ln2(x)) when true; else sequential residuals. */
  parallelResidual: boolean;
  hiddenAct: NeoxActivation;
  /** The output projection shares the input embedding's weights (no `embed_out.weight`). */
  tieWordEmbeddings: boolean;
  /** The query_key_value and dense projections carry biases (transformers' `attention_bias`, default true). */
  attentionBias: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
}

/** Per-head width and the number of rotated dimensions, as transformers derives them. */
export function neoxDerived(cfg: NeoxConfig): { headDim: number; rotaryDims: number } {
  const headDim = cfg.hiddenSize / cfg.numHeads;
  return { headDim, rotaryDims: Math.floor(headDim * cfg.rotaryPct) };
}

/** Parameter names (Hugging Face's) and shapes of a GPT-NeoX causal LM, in a stable order. */
export function neoxParameterSpecs(cfg: NeoxConfig, opts: { valueHead?: boolean } = {}): { name: string; shape: number[] }[] {
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
