// The GPT-NeoX model on the CPU: the parameter layout (one allocation, named views), the
// activation layout, and the forward and backward passes that string the kernels of neox_ops.h
// together. docs/neox.md writes out the math; neox.h the contract. The handle's definition is in
// neox_internal.h, shared with neox_generate.cc (the KV cache, incremental forward and sampling).
//
// Forward of one layer (slot s = the layer in training, 0 otherwise):
//   ln1 = LN1(x); qkv = ln1·Wqkvᵀ + b; rotary(q, k); ctx = attention(qkv); a = ctx·Wdᵀ + b
//   parallel:   ln2 = LN2(x);  m = act(ln2·W1ᵀ + b1)·W2ᵀ + b2;  x' = x + a + m
//   sequential: x1 = x + a;  ln2 = LN2(x1);  m = (same);        x' = x1 + m
// Backward runs the same list in reverse; layer-norm backward accumulates into the residual
// gradient, which is how the residual adds are differentiated.
#include "rewardlens/neox.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "neox_internal.h"
#include "neox_ops.h"

namespace rl {

using namespace neox_detail;

namespace {

// Backward scratch.
struct Grads {
  float *dresid, *dln, *dqkv, *dctx, *dfch, *pcoef, *c1, *c2;
};

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string str(int64_t v) { return std::to_string(v); }

}  // namespace

namespace {

// ---- the parameter layout -----------------------------------------------------------------------

void add_tensor(Neox* m, const std::string& name, int64_t d0, int64_t d1 = -1) {
  TensorEntry t;
  t.name = name;
  t.offset = m->num_params;
  t.ndim = d1 < 0 ? 1 : 2;
  t.shape[0] = d0;
  t.shape[1] = d1 < 0 ? 0 : d1;
  t.numel = d1 < 0 ? d0 : d0 * d1;
  m->num_params += t.numel;
  m->tensors.push_back(std::move(t));
}

// GPT-Neo's tensors in neoxParameterSpecs order: per layer the same order of blocks as GPT-NeoX's
// (ln_1, ln_2, then q|k|v — consecutive, one [3C,C] matrix —, out_proj, c_fc, c_proj).
void build_layout_gpt_neo(Neox* m) {
  const NeoxConfig& c = m->cfg;
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  add_tensor(m, "transformer.wte.weight", c.vocab_size, C);
  add_tensor(m, "transformer.wpe.weight", c.max_positions, C);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "transformer.h." + str(l);
    add_tensor(m, p + ".ln_1.weight", C);
    add_tensor(m, p + ".ln_1.bias", C);
    add_tensor(m, p + ".ln_2.weight", C);
    add_tensor(m, p + ".ln_2.bias", C);
    add_tensor(m, p + ".attn.attention.q_proj.weight", C, C);
    add_tensor(m, p + ".attn.attention.k_proj.weight", C, C);
    add_tensor(m, p + ".attn.attention.v_proj.weight", C, C);
    add_tensor(m, p + ".attn.attention.out_proj.weight", C, C);
    add_tensor(m, p + ".attn.attention.out_proj.bias", C);
    add_tensor(m, p + ".mlp.c_fc.weight", I, C);
    add_tensor(m, p + ".mlp.c_fc.bias", I);
    add_tensor(m, p + ".mlp.c_proj.weight", C, I);
    add_tensor(m, p + ".mlp.c_proj.bias", C);
  }
  add_tensor(m, "transformer.ln_f.weight", C);
  add_tensor(m, "transformer.ln_f.bias", C);
  if (!c.tie_word_embeddings) add_tensor(m, "lm_head.weight", c.vocab_size, C);
  if (c.value_head) {
    add_tensor(m, "v_head.summary.weight", 1, C);
    add_tensor(m, "v_head.summary.bias", 1);
  }
}

// The tensors in neoxParameterSpecs order (src/model/neox-config.ts).
void build_layout(Neox* m) {
  const NeoxConfig& c = m->cfg;
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  if (c.arch == NeoxArch::kGptNeo) {
    build_layout_gpt_neo(m);
    return;
  }
  add_tensor(m, "gpt_neox.embed_in.weight", c.vocab_size, C);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "gpt_neox.layers." + str(l);
    add_tensor(m, p + ".input_layernorm.weight", C);
    add_tensor(m, p + ".input_layernorm.bias", C);
    add_tensor(m, p + ".post_attention_layernorm.weight", C);
    add_tensor(m, p + ".post_attention_layernorm.bias", C);
    add_tensor(m, p + ".attention.query_key_value.weight", 3 * C, C);
    if (c.attention_bias) add_tensor(m, p + ".attention.query_key_value.bias", 3 * C);
    add_tensor(m, p + ".attention.dense.weight", C, C);
    if (c.attention_bias) add_tensor(m, p + ".attention.dense.bias", C);
    add_tensor(m, p + ".mlp.dense_h_to_4h.weight", I, C);
    add_tensor(m, p + ".mlp.dense_h_to_4h.bias", I);
    add_tensor(m, p + ".mlp.dense_4h_to_h.weight", C, I);
    add_tensor(m, p + ".mlp.dense_4h_to_h.bias", C);
  }
  add_tensor(m, "gpt_neox.final_layer_norm.weight", C);
  add_tensor(m, "gpt_neox.final_layer_norm.bias", C);
  if (!c.tie_word_embeddings) add_tensor(m, "embed_out.weight", c.vocab_size, C);
  if (c.value_head) {
    add_tensor(m, "v_head.summary.weight", 1, C);
    add_tensor(m, "v_head.summary.bias", 1);
  }
}

// Named views over `base` (the parameters or the gradients), walking the layout in order.
ModelView make_view(const Neox* m, float* base) {
  const NeoxConfig& c = m->cfg;
  ModelView v;
  size_t k = 0;
  auto next = [&]() { return base + m->tensors[k++].offset; };
  const bool neo = c.arch == NeoxArch::kGptNeo;
  v.wte = next();
  if (neo) v.wpe = next();
  v.layers.resize(static_cast<size_t>(c.num_layers));
  for (auto& L : v.layers) {
    L.ln1_w = next();
    L.ln1_b = next();
    L.ln2_w = next();
    L.ln2_b = next();
    L.qkv_w = next();  // GPT-Neo: q_proj, then k_proj and v_proj right after it
    if (neo) {
      next();
      next();
    }
    L.qkv_b = c.attention_bias && !neo ? next() : nullptr;
    L.dense_w = next();
    L.dense_b = c.attention_bias || neo ? next() : nullptr;
    L.fc_w = next();
    L.fc_b = next();
    L.proj_w = next();
    L.proj_b = next();
  }
  v.lnf_w = next();
  v.lnf_b = next();
  v.wout = c.tie_word_embeddings ? v.wte : next();
  if (c.value_head) {
    v.v_w = next();
    v.v_b = next();
  }
  return v;
}

bool is_layer_norm_weight(const std::string& name) {
  const auto ends = [&](const char* s) {
    const size_t n = std::strlen(s);
    return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
  };
  return ends("layernorm.weight") || ends("final_layer_norm.weight") || ends(".ln_1.weight") ||
         ends(".ln_2.weight") || ends("ln_f.weight");
}

bool is_weight_matrix(const std::string& name) {
  const auto ends = [&](const char* s) {
    const size_t n = std::strlen(s);
    return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
  };
  if (is_layer_norm_weight(name)) return false;
  return ends(".weight");
}

// N(0, std) weights from per-chunk streams (the values do not depend on the thread count).
void init_params(Neox* m, NeoxInit init, uint64_t seed, float std) {
  std::memset(m->params, 0, static_cast<size_t>(m->num_params) * sizeof(float));
  if (init == NeoxInit::kZeros) return;
  constexpr int64_t kChunk = 1 << 16;
  for (size_t k = 0; k < m->tensors.size(); ++k) {
    const TensorEntry& t = m->tensors[k];
    float* x = m->params + t.offset;
    if (is_layer_norm_weight(t.name)) {
      std::fill(x, x + t.numel, 1.0f);
      continue;
    }
    if (!is_weight_matrix(t.name)) continue;  // biases stay 0
    const int64_t chunks = (t.numel + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < chunks; ++ch) {
      uint64_t s = seed * 0x2545f4914f6cdd1dULL + (static_cast<uint64_t>(k) << 32) + static_cast<uint64_t>(ch);
      splitmix64(s);
      const int64_t i0 = ch * kChunk, i1 = std::min(t.numel, i0 + kChunk);
      for (int64_t i = i0; i < i1; i += 2) {
        // Box-Muller: two normals from two uniforms in (0, 1]
        const double u1 = (static_cast<double>(splitmix64(s) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
        const double u2 = static_cast<double>(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
        const double r = std::sqrt(-2.0 * std::log(u1));
        x[i] = static_cast<float>(std * r * std::cos(6.283185307179586 * u2));
        if (i + 1 < i1) x[i + 1] = static_cast<float>(std * r * std::sin(6.283185307179586 * u2));
      }
    }
  }
}

Status check_config(const NeoxConfig& c) {
  constexpr int64_t kMax = int64_t{1} << 31;
  RL_CHECK_ARG(c.vocab_size >= 1 && c.vocab_size < kMax,
               "Expected integer between 1 and 2147483647 for vocabSize but received " + str(c.vocab_size));
  RL_CHECK_ARG(c.hidden_size >= 1 && c.hidden_size < kMax,
               "Expected integer between 1 and 2147483647 for hiddenSize but received " + str(c.hidden_size));
  RL_CHECK_ARG(c.num_layers >= 1 && c.num_layers <= 100000,
               "Expected integer between 1 and 100000 for numLayers but received " + str(c.num_layers));
  RL_CHECK_ARG(c.num_heads >= 1 && c.hidden_size % c.num_heads == 0,
               "Expected a divisor of hiddenSize " + str(c.hidden_size) + " for numHeads but received " + str(c.num_heads));
  RL_CHECK_ARG(c.intermediate_size >= 1 && c.intermediate_size < kMax,
               "Expected integer between 1 and 2147483647 for intermediateSize but received " + str(c.intermediate_size));
  const int64_t hd = c.hidden_size / c.num_heads;
  RL_CHECK_ARG(c.rotary_dims >= 0 && c.rotary_dims <= hd && c.rotary_dims % 2 == 0,
               "Expected an even number of rotary dimensions in [0, " + str(hd) +
                   "] (floor(headDim·rotaryPct)) for rotaryPct but received " + str(c.rotary_dims));
  RL_CHECK_ARG(std::isfinite(c.rotary_base) && c.rotary_base > 0,
               "Expected finite number > 0 for rotaryBase but received " + std::to_string(c.rotary_base));
  RL_CHECK_ARG(std::isfinite(c.layer_norm_eps) && c.layer_norm_eps > 0,
               "Expected finite number > 0 for layerNormEps but received " + std::to_string(c.layer_norm_eps));
  RL_CHECK_ARG(c.activation == NeoxActivation::kGeluErf || c.activation == NeoxActivation::kGeluTanh,
               "Expected a known activation for hiddenAct but received " + str(static_cast<int>(c.activation)));
  const double total = static_cast<double>(c.vocab_size) * c.hidden_size * 2 +
                       static_cast<double>(c.num_layers) * (4.0 * c.hidden_size * c.hidden_size +
                                                             2.0 * c.hidden_size * c.intermediate_size);
  RL_CHECK_ARG(total < 4e12, "Expected fewer than 4e12 parameters for config but received about " + std::to_string(total));
  RL_CHECK_ARG(c.lm_head_chunk_rows >= 0, "Expected integer >= 0 for lmHeadChunkRows but received " + str(c.lm_head_chunk_rows));
  RL_CHECK_ARG(c.arch == NeoxArch::kGptNeox || c.arch == NeoxArch::kGptNeo,
               "Expected a known architecture for modelType but received " + str(static_cast<int>(c.arch)));
  if (c.arch == NeoxArch::kGptNeo) {
    RL_CHECK_ARG(c.rotary_dims == 0, "Expected 0 rotary dimensions (GPT-Neo has none) for rotaryPct but received " + str(c.rotary_dims));
    RL_CHECK_ARG(!c.parallel_residual, "Expected sequential residuals (GPT-Neo) for parallelResidual but received true");
    RL_CHECK_ARG(c.max_positions >= 1 && c.max_positions < kMax,
                 "Expected integer between 1 and 2147483647 for maxPositions but received " + str(c.max_positions));
    RL_CHECK_ARG(c.local_layers != nullptr, "Expected an array of numLayers 0/1 entries for attentionLayers but received null");
    bool any_local = false;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      RL_CHECK_ARG(c.local_layers[l] <= 1, "Expected 0 (global) or 1 (local) for attentionLayers[" + str(l) + "] but received " +
                                               str(c.local_layers[l]));
      any_local = any_local || c.local_layers[l] == 1;
    }
    RL_CHECK_ARG(!any_local || (c.window_size >= 1 && c.window_size < kMax),
                 "Expected integer between 1 and 2147483647 (local layers need a window) for windowSize but received " +
                     str(c.window_size));
  }
  return Status::Ok();
}

// ---- the activation layout ---------------------------------------------------------------------

// Lays out the activations for (B, T, train) at `base` (or only counts them when base is null).
size_t layout_acts(const Neox* m, int64_t B, int64_t T, bool train, float* base, Acts* a) {
  const NeoxConfig& c = m->cfg;
  const int64_t BT = B * T, C = c.hidden_size, I = c.intermediate_size, NH = c.num_heads;
  const int64_t L = c.num_layers;
  Acts x;
  x.S = train ? L : 1;
  x.SR = train ? L + 1 : 2;
  size_t off = 0;
  auto take = [&](int64_t count) -> float* {
    float* p = base ? base + off : nullptr;
    off += static_cast<size_t>((count + 15) / 16 * 16);  // keep each array 64-byte aligned
    return p;
  };
  x.resid = take(x.SR * BT * C);
  x.ln1 = take(x.S * BT * C);
  x.ln1_mean = take(x.S * BT);
  x.ln1_rstd = take(x.S * BT);
  x.qkv = take(x.S * BT * 3 * C);
  x.att = take(x.S * B * NH * T * T);
  x.ctx = take(x.S * BT * C);
  x.resid_mid = c.parallel_residual ? nullptr : take(x.S * BT * C);
  x.ln2 = take(x.S * BT * C);
  x.ln2_mean = take(x.S * BT);
  x.ln2_rstd = take(x.S * BT);
  x.fch = take(x.S * BT * I);
  x.fch_act = take(x.S * BT * I);
  x.attn_out = take(BT * C);
  x.mlp_out = take(BT * C);
  x.cos = take(BT * std::max<int64_t>(m->RD / 2, 1));
  x.sin = take(BT * std::max<int64_t>(m->RD / 2, 1));
  x.lnf = take(BT * C);
  x.lnf_mean = take(BT);
  x.lnf_rstd = take(BT);
  x.lse = take(BT);
  if (a) *a = x;
  return off;
}

Grads layout_grads(const Neox* m, int64_t BT, float* base, size_t* total) {
  const int64_t C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
  size_t off = 0;
  auto take = [&](int64_t count) -> float* {
    float* p = base ? base + off : nullptr;
    off += static_cast<size_t>((count + 15) / 16 * 16);
    return p;
  };
  Grads g;
  g.dresid = take(BT * C);
  g.dln = take(BT * C);
  g.dqkv = take(BT * 3 * C);
  g.dctx = take(BT * C);
  g.dfch = take(BT * I);
  g.pcoef = take(BT);
  g.c1 = take(BT);
  g.c2 = take(BT);
  *total = off;
  return g;
}

// Rows of logits per chunk in a forward pass that keeps no logits: about 16 MB, at least 128 rows.
int64_t lm_chunk_rows(int64_t V, int64_t BT) {
  const int64_t rows = std::max<int64_t>(128, (int64_t{1} << 22) / V);
  return std::min(rows, BT);
}

// GPT-Neo: every position must have a row in wpe.
Status check_positions(const Neox* m, const int32_t* pos, int64_t n, const char* what) {
  if (m->cfg.arch != NeoxArch::kGptNeo) return Status::Ok();
  const int64_t P = m->cfg.max_positions;
  for (int64_t i = 0; i < n; ++i) {
    if (pos[i] >= P) {
      return Status::Invalid("Expected integers in [0, " + str(P) + ") (maxPositions) for " + std::string(what) +
                             " but received " + str(pos[i]) + " at index " + str(i));
    }
  }
  return Status::Ok();
}

// Checks a batch; on success *pos points at the position ids to use (given or default).
Status check_batch(Neox* m, const NeoxBatch& b, const int32_t** pos) {
  RL_CHECK_ARG(b.B >= 1 && b.B <= (int64_t{1} << 30), "Expected integer between 1 and 1073741824 for B but received " + str(b.B));
  RL_CHECK_ARG(b.T >= 1 && b.T <= (int64_t{1} << 30), "Expected integer between 1 and 1073741824 for T but received " + str(b.T));
  RL_CHECK_ARG(b.B * b.T <= (int64_t{1} << 31), "Expected B·T <= 2147483648 for inputIds but received " + str(b.B * b.T));
  RL_CHECK_ARG(b.input_ids != nullptr, "Expected Int32Array of shape [B,T] for inputIds but received null");
  const int64_t BT = b.B * b.T, V = m->cfg.vocab_size;
  for (int64_t i = 0; i < BT; ++i) {
    if (b.input_ids[i] < 0 || b.input_ids[i] >= V) {
      return Status::Invalid("Expected integers in [0, " + str(V) + ") for inputIds but received " +
                             str(b.input_ids[i]) + " at index " + str(i));
    }
  }
  if (b.attention_mask != nullptr) {
    for (int64_t i = 0; i < BT; ++i) {
      if (b.attention_mask[i] > 1) {
        return Status::Invalid("Expected 0/1 entries for attentionMask but received " +
                               str(b.attention_mask[i]) + " at index " + str(i));
      }
    }
  }
  if (b.position_ids != nullptr) {
    for (int64_t i = 0; i < BT; ++i) {
      if (b.position_ids[i] < 0) {
        return Status::Invalid("Expected integers >= 0 for positionIds but received " +
                               str(b.position_ids[i]) + " at index " + str(i));
      }
    }
    *pos = b.position_ids;
    return check_positions(m, b.position_ids, BT, "positionIds");
  }
  // Default: counted from the first real token of each row; 0 at padded positions.
  m->pos_default.resize(static_cast<size_t>(BT));
  for (int64_t r = 0; r < b.B; ++r) {
    int32_t n = 0;
    for (int64_t t = 0; t < b.T; ++t) {
      const int64_t i = r * b.T + t;
      const bool real = b.attention_mask == nullptr || b.attention_mask[i] != 0;
      m->pos_default[static_cast<size_t>(i)] = real ? n++ : 0;
    }
  }
  *pos = m->pos_default.data();
  return check_positions(m, *pos, BT, "positionIds (counted from the first real token of each row)");
}

// Pairs (t, t+1) of one row with mask 1 at both: the LM loss's terms. Row r = b·T + t.
inline bool loss_pair(const NeoxBatch& b, int64_t r) {
  const int64_t t = r % b.T;
  if (t + 1 >= b.T) return false;
  if (b.attention_mask == nullptr) return true;
  return b.attention_mask[r] != 0 && b.attention_mask[r + 1] != 0;
}

Status check_request(const Neox* m, const NeoxBatch& b, const NeoxForwardRequest& q, int64_t* pairs) {
  const int64_t BT = b.B * b.T, V = m->cfg.vocab_size, L = m->cfg.num_layers;
  if (q.targets != nullptr) {
    for (int64_t i = 0; i < BT; ++i) {
      if (q.targets[i] < -1 || q.targets[i] >= V) {
        return Status::Invalid("Expected integers in [-1, " + str(V) + ") for targets but received " +
                               str(q.targets[i]) + " at index " + str(i));
      }
    }
  }
  RL_CHECK_ARG(q.token_logprobs == nullptr || q.targets != nullptr,
               "Expected targets (Int32Array of shape [B,T]) with tokenLogprobs but received none");
  RL_CHECK_ARG(q.values == nullptr || m->cfg.value_head,
               "Expected a model with a value head for values but received a model without one");
  RL_CHECK_ARG(q.value_dropout >= 0.0f && q.value_dropout < 1.0f,
               "Expected a value-head dropout in [0, 1) for valueDropout but received " + std::to_string(q.value_dropout));
  RL_CHECK_ARG(q.num_hooks >= 0 && (q.num_hooks == 0 || q.hooks != nullptr),
               "Expected an array of num_hooks hooks for hooks but received null");
  for (int64_t k = 0; k < q.num_hooks; ++k) {
    const NeoxHook& h = q.hooks[k];
    const int p = static_cast<int>(h.point);
    RL_CHECK_ARG(p >= 0 && p <= 4, "Expected a known hook point for hooks[" + str(k) + "] but received " + str(p));
    const int64_t hi = h.point == NeoxHookPoint::kHidden ? L : L - 1;
    RL_CHECK_ARG(h.layer >= 0 && h.layer <= hi, "Expected a layer in [0, " + str(hi) + "] for hooks[" + str(k) +
                                                    "] but received " + str(h.layer));
    RL_CHECK_ARG(h.out != nullptr, "Expected an output buffer for hooks[" + str(k) + "] but received null");
  }
  int64_t n = 0;
  if (q.loss != nullptr) {
    for (int64_t r = 0; r < BT; ++r) n += loss_pair(b, r) ? 1 : 0;
    RL_CHECK_ARG(n >= 1, "Expected at least one pair of consecutive unpadded tokens (for the loss) for attentionMask but received none");
  }
  *pairs = n;
  return Status::Ok();
}

void copy_hooks(const NeoxForwardRequest& q, NeoxHookPoint point, int64_t layer, const float* src, int64_t count) {
  for (int64_t k = 0; k < q.num_hooks; ++k) {
    if (q.hooks[k].point == point && q.hooks[k].layer == layer) {
      std::memcpy(q.hooks[k].out, src, static_cast<size_t>(count) * sizeof(float));
    }
  }
}

// Outputs of the LM head rows i0 .. i0 + n of the selection `rows` (null: row i is row i) from
// their logits (n, V) and lse (n): token log-probs at the targets and the loss's sum.
void head_outputs(const NeoxBatch& b, const NeoxForwardRequest& q, const float* logits, const float* lse,
                  const int64_t* rows, int64_t i0, int64_t n, int64_t V, double* nll) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = rows != nullptr ? rows[i0 + i] : i0 + i;
    const float* x = logits + i * V;
    if (q.targets != nullptr && q.token_logprobs != nullptr && q.targets[r] >= 0) {
      q.token_logprobs[r] = x[q.targets[r]] - lse[i];
    }
    if (q.loss != nullptr && loss_pair(b, r)) {
      *nll += static_cast<double>(lse[i]) - static_cast<double>(x[b.input_ids[r + 1]]);
    }
  }
}

}  // namespace

namespace neox_detail {
neox::AttnShape attn_shape(const Neox* m, int64_t l) {
  neox::AttnShape s;
  s.NH = m->cfg.num_heads;
  s.HD = m->HD;
  if (m->cfg.arch == NeoxArch::kGptNeo) {
    s.split = true;
    s.scale = 1.0f;  // transformers' GPT-Neo does not scale its scores
    s.window = m->local_layers[static_cast<size_t>(l)] != 0 ? m->cfg.window_size : 0;
  } else {
    s.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(m->HD)));
  }
  return s;
}
}  // namespace neox_detail

// ---- the handle ---------------------------------------------------------------------------------

Status neox_create(const NeoxConfig& cfg, NeoxInit init, uint64_t seed, float init_std, Neox** out) {
  RL_CHECK_ARG(out != nullptr, "Expected a pointer for out but received null");
  *out = nullptr;
  RL_RETURN_IF_ERROR(check_config(cfg));
  RL_CHECK_ARG(init == NeoxInit::kZeros || init == NeoxInit::kNormal,
               "Expected \"zeros\" or \"normal\" for init but received " + str(static_cast<int>(init)));
  RL_CHECK_ARG(std::isfinite(init_std) && init_std >= 0,
               "Expected finite number >= 0 for initStd but received " + std::to_string(init_std));
  Neox* m = new (std::nothrow) Neox();
  if (m == nullptr) return Status::OutOfMemory("out of memory creating the GPT-NeoX handle");
  m->cfg = cfg;
  m->HD = cfg.hidden_size / cfg.num_heads;
  m->RD = cfg.rotary_dims;
  if (cfg.arch == NeoxArch::kGptNeo) {
    m->local_layers.assign(cfg.local_layers, cfg.local_layers + cfg.num_layers);
    m->cfg.local_layers = m->local_layers.data();
  } else {
    m->cfg.local_layers = nullptr;
    m->cfg.max_positions = 0;
    m->cfg.window_size = 0;
  }
  build_layout(m);
  m->params = static_cast<float*>(std::calloc(static_cast<size_t>(m->num_params), sizeof(float)));
  if (m->params == nullptr) {
    const int64_t n = m->num_params;
    delete m;
    return Status::OutOfMemory("out of memory allocating " + str(n) + " GPT-NeoX parameters");
  }
  m->P = make_view(m, m->params);
  init_params(m, init, seed, init_std);
  *out = m;
  return Status::Ok();
}

void neox_destroy(Neox* model) { delete model; }

const NeoxConfig& neox_config(const Neox* model) { return model->cfg; }
int64_t neox_num_tensors(const Neox* model) { return static_cast<int64_t>(model->tensors.size()); }

Status neox_tensor_info(const Neox* model, int64_t index, NeoxTensorInfo* info) {
  RL_CHECK_ARG(index >= 0 && index < neox_num_tensors(model),
               "Expected a tensor index in [0, " + str(neox_num_tensors(model)) + ") for index but received " + str(index));
  const TensorEntry& t = model->tensors[static_cast<size_t>(index)];
  info->name = t.name.c_str();
  info->offset = t.offset;
  info->numel = t.numel;
  info->ndim = t.ndim;
  info->shape[0] = t.shape[0];
  info->shape[1] = t.shape[1];
  return Status::Ok();
}

int64_t neox_num_params(const Neox* model) { return model->num_params; }
float* neox_params(Neox* model) { return model->params; }

Status neox_grads(Neox* model, float** grads) {
  if (model->grads == nullptr) {
    model->grads = static_cast<float*>(std::calloc(static_cast<size_t>(model->num_params), sizeof(float)));
    if (model->grads == nullptr) return Status::OutOfMemory("out of memory allocating the GPT-NeoX gradients");
    model->G = make_view(model, model->grads);
  }
  if (grads != nullptr) *grads = model->grads;
  return Status::Ok();
}

void neox_zero_grad(Neox* model) {
  if (model->grads != nullptr) std::memset(model->grads, 0, static_cast<size_t>(model->num_params) * sizeof(float));
}

size_t neox_memory_bytes(const Neox* model) {
  size_t n = static_cast<size_t>(model->num_params) * (model->grads ? 2 : 1);
  n += model->acts_buf.n + model->logits_buf.n + model->bwd_buf.n + model->head_h.n;
  n += model->step_buf.n + model->head_logits.n + model->sample_buf.n;
  return n * sizeof(float) + (model->ids.capacity() + model->targets.capacity()) * sizeof(int32_t) +
         model->head_rows.capacity() * sizeof(int64_t) + model->mask.capacity() +
         (model->step_ids.capacity() + model->step_pos.capacity()) * sizeof(int32_t) + model->sample_keys.capacity() * sizeof(uint64_t) + model->sample_mass.capacity() * sizeof(double) +
         model->step_rows.capacity() * sizeof(int64_t) + neox_cache_memory_bytes(model->gen_cache);
}

void neox_release_activations(Neox* model) {
  model->train_ready = false;
  model->acts_buf.release();
  model->logits_buf.release();
  model->bwd_buf.release();
  model->head_h.release();
  model->acts = Acts();
  neox_cache_destroy(model->gen_cache);
  model->gen_cache = nullptr;
  model->step_buf.release();
  model->head_logits.release();
  model->sample_buf.release();
  std::vector<uint64_t>().swap(model->sample_keys);
  std::vector<double>().swap(model->sample_mass);
}

// ---- forward ------------------------------------------------------------------------------------

Status neox_forward(Neox* m, const NeoxBatch& batch, const NeoxForwardRequest& q) {
  m->train_ready = false;  // whatever happens, the previous training state is gone
  const NeoxConfig& c = m->cfg;
  const int32_t* pos = nullptr;
  RL_RETURN_IF_ERROR(check_batch(m, batch, &pos));
  int64_t pairs = 0;
  RL_RETURN_IF_ERROR(check_request(m, batch, q, &pairs));

  const int64_t B = batch.B, T = batch.T, BT = B * T;
  const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, L = c.num_layers;
  const int64_t NH = c.num_heads, HD = m->HD, RD = m->RD;
  const bool train = q.train;
  const bool tanh_act = c.activation == NeoxActivation::kGeluTanh;
  const uint8_t* mask = batch.attention_mask;

  const size_t need = layout_acts(m, B, T, train, nullptr, nullptr);
  if (!m->acts_buf.reserve(need)) {
    return Status::OutOfMemory("out of memory allocating " + str(static_cast<int64_t>(need * sizeof(float))) +
                               " bytes of GPT-NeoX activations for B=" + str(B) + ", T=" + str(T));
  }
  Acts& a = m->acts;
  layout_acts(m, B, T, train, m->acts_buf.p, &a);
  const ModelView& P = m->P;
  auto resid = [&](int64_t l) { return a.resid + (train ? l : l % 2) * BT * C; };

  // embeddings and rotary tables
  neox::embedding_forward(resid(0), batch.input_ids, P.wte, BT, C);
  if (P.wpe != nullptr) neox::position_embedding_forward(resid(0), pos, P.wpe, BT, C);
  copy_hooks(q, NeoxHookPoint::kHidden, 0, resid(0), BT * C);
  neox::rotary_tables(a.cos, a.sin, pos, BT, RD, c.rotary_base);

  for (int64_t l = 0; l < L; ++l) {
    const LayerView& w = P.layers[static_cast<size_t>(l)];
    const int64_t s = train ? l : 0;
    float* x = resid(l);
    float* y = resid(l + 1);
    float* ln1 = a.ln1 + s * BT * C;
    float* ln1_mean = a.ln1_mean + s * BT;
    float* ln1_rstd = a.ln1_rstd + s * BT;
    float* qkv = a.qkv + s * BT * 3 * C;
    float* att = a.att + s * B * NH * T * T;
    float* ctx = a.ctx + s * BT * C;
    float* ln2 = a.ln2 + s * BT * C;
    float* ln2_mean = a.ln2_mean + s * BT;
    float* ln2_rstd = a.ln2_rstd + s * BT;
    float* fch = a.fch + s * BT * I;
    float* fch_act = a.fch_act + s * BT * I;

    // attention block: a = dense(attention(rotary(qkv(ln1(x)))))
    neox::layernorm_forward(ln1, ln1_mean, ln1_rstd, x, w.ln1_w, w.ln1_b, BT, C, c.layer_norm_eps);
    neox::matmul_forward(qkv, ln1, w.qkv_w, w.qkv_b, BT, C, 3 * C);
    neox::rotary_forward(qkv, a.cos, a.sin, BT, NH, HD, RD);
    neox::attention_forward(ctx, att, qkv, mask, B, T, attn_shape(m, l));
    neox::matmul_forward(a.attn_out, ctx, w.dense_w, w.dense_b, BT, C, C);

    // MLP block on ln2 of x (parallel) or of x + a (sequential)
    const float* mlp_in = x;
    if (!c.parallel_residual) {
      float* mid = a.resid_mid + s * BT * C;
      neox::residual_forward(mid, x, a.attn_out, BT * C);
      mlp_in = mid;
    }
    neox::layernorm_forward(ln2, ln2_mean, ln2_rstd, mlp_in, w.ln2_w, w.ln2_b, BT, C, c.layer_norm_eps);
    neox::matmul_forward(fch, ln2, w.fc_w, w.fc_b, BT, C, I);
    neox::gelu_forward(fch_act, fch, BT * I, tanh_act);
    neox::matmul_forward(a.mlp_out, fch_act, w.proj_w, w.proj_b, BT, I, C);

    if (c.parallel_residual) {
      neox::residual3_forward(y, x, a.attn_out, a.mlp_out, BT * C);
    } else {
      neox::residual_forward(y, mlp_in, a.mlp_out, BT * C);
    }

    copy_hooks(q, NeoxHookPoint::kAttnOut, l, a.attn_out, BT * C);
    copy_hooks(q, NeoxHookPoint::kMlpPost, l, fch_act, BT * I);
    copy_hooks(q, NeoxHookPoint::kMlpOut, l, a.mlp_out, BT * C);
    copy_hooks(q, NeoxHookPoint::kResid, l, y, BT * C);
    if (l + 1 < L) copy_hooks(q, NeoxHookPoint::kHidden, l + 1, y, BT * C);
  }

  // final layer norm, hidden state, values
  neox::layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, resid(L), P.lnf_w, P.lnf_b, BT, C, c.layer_norm_eps);
  copy_hooks(q, NeoxHookPoint::kHidden, L, a.lnf, BT * C);
  if (q.last_hidden != nullptr) std::memcpy(q.last_hidden, a.lnf, static_cast<size_t>(BT * C) * sizeof(float));
  if (q.values != nullptr) neox::value_forward(q.values, a.lnf, P.v_w, P.v_b, BT, C, q.value_dropout, q.value_dropout_seed);
  m->value_dropout = q.value_dropout;
  m->value_dropout_seed = q.value_dropout_seed;

  // LM head: logits = lnf·W_outᵀ on the rows that need them — every row when the logits are asked
  // for, else the rows with a target or a loss pair — then log-softmax at the targets, and the loss.
  const bool need_head = q.logits != nullptr || q.targets != nullptr || q.loss != nullptr;
  double nll = 0.0;
  bool kept = false;
  bool all = true;
  int64_t R = BT;
  if (q.token_logprobs != nullptr) std::memset(q.token_logprobs, 0, static_cast<size_t>(BT) * sizeof(float));
  if (need_head) {
    std::vector<int64_t>& rows = m->head_rows;
    rows.clear();
    if (q.logits == nullptr) {
      for (int64_t r = 0; r < BT; ++r) {
        if ((q.targets != nullptr && q.targets[r] >= 0) || (q.loss != nullptr && loss_pair(batch, r))) rows.push_back(r);
      }
      all = static_cast<int64_t>(rows.size()) == BT;
      R = static_cast<int64_t>(rows.size());
    }
    const int64_t* sel = all ? nullptr : rows.data();
    if (train && (q.targets != nullptr || q.loss != nullptr)) {
      // keep the logits (and the selected rows of lnf) for the backward pass
      if (!m->logits_buf.reserve(static_cast<size_t>(std::max<int64_t>(R, 1) * V)) ||
          (!all && !m->head_h.reserve(static_cast<size_t>(std::max<int64_t>(R, 1) * C)))) {
        return Status::OutOfMemory("out of memory allocating the " + str(R) + "x" + str(V) +
                                   " logits a training forward keeps");
      }
      const float* h = a.lnf;
      if (!all) {
        neox::gather_rows(m->head_h.p, a.lnf, sel, R, C);
        h = m->head_h.p;
      }
      if (R > 0) {
        neox::matmul_forward(m->logits_buf.p, h, P.wout, nullptr, R, C, V);
        neox::logsumexp_rows(a.lse, m->logits_buf.p, R, V);
        head_outputs(batch, q, m->logits_buf.p, a.lse, sel, 0, R, V, &nll);
      }
      if (q.logits != nullptr) std::memcpy(q.logits, m->logits_buf.p, static_cast<size_t>(BT * V) * sizeof(float));
      kept = true;
    } else if (q.logits != nullptr) {
      // the caller's buffer holds them all
      neox::matmul_forward(q.logits, a.lnf, P.wout, nullptr, BT, C, V);
      neox::logsumexp_rows(a.lse, q.logits, BT, V);
      head_outputs(batch, q, q.logits, a.lse, nullptr, 0, BT, V, &nll);
    } else if (R > 0) {
      // chunks of rows: no (BT, V) buffer anywhere
      const int64_t Rc = c.lm_head_chunk_rows > 0 ? std::min(c.lm_head_chunk_rows, R) : lm_chunk_rows(V, R);
      if (!m->logits_buf.reserve(static_cast<size_t>(Rc * V)) || (!all && !m->head_h.reserve(static_cast<size_t>(Rc * C)))) {
        return Status::OutOfMemory("out of memory allocating a " + str(Rc) + "x" + str(V) + " chunk of logits");
      }
      for (int64_t i0 = 0; i0 < R; i0 += Rc) {
        const int64_t n = std::min(Rc, R - i0);
        const float* h = a.lnf + i0 * C;
        if (!all) {
          neox::gather_rows(m->head_h.p, a.lnf, sel + i0, n, C);
          h = m->head_h.p;
        }
        neox::matmul_forward(m->logits_buf.p, h, P.wout, nullptr, n, C, V);
        neox::logsumexp_rows(a.lse + i0, m->logits_buf.p, n, V);
        head_outputs(batch, q, m->logits_buf.p, a.lse + i0, sel, i0, n, V, &nll);
      }
    }
  }
  if (q.loss != nullptr) *q.loss = nll / static_cast<double>(pairs);

  if (train) {
    m->B = B;
    m->T = T;
    m->ids.assign(batch.input_ids, batch.input_ids + BT);
    m->pos.assign(pos, pos + BT);
    m->has_mask = mask != nullptr;
    if (mask != nullptr) {
      m->mask.assign(mask, mask + BT);
    } else {
      m->mask.clear();
    }
    m->have_targets = q.targets != nullptr;
    if (q.targets != nullptr) {
      m->targets.assign(q.targets, q.targets + BT);
    } else {
      m->targets.clear();
    }
    m->want_loss = q.loss != nullptr;
    m->loss_pairs = pairs;
    m->head_kept = kept;
    m->head_all = all;
    m->head_count = kept ? R : 0;
    m->train_ready = true;
  }
  return Status::Ok();
}

// ---- backward -----------------------------------------------------------------------------------

namespace {
Status check_finite(const float* x, int64_t n, const char* name) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      return Status::Invalid(std::string("Expected finite values in ") + name + " for " + name + " but received " +
                             (std::isnan(x[i]) ? "NaN" : (x[i] > 0 ? "Infinity" : "-Infinity")) + " at index " + str(i));
    }
  }
  return Status::Ok();
}
}  // namespace

Status neox_backward(Neox* m, const NeoxBackwardRequest& req) {
  RL_CHECK_ARG(m->train_ready,
               "Expected a training forward (train: true) before backward (each allows one backward) but received none");
  const NeoxConfig& c = m->cfg;
  const int64_t B = m->B, T = m->T, BT = B * T;
  const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, L = c.num_layers;
  const int64_t NH = c.num_heads, HD = m->HD, RD = m->RD;
  RL_CHECK_ARG(std::isfinite(req.loss_scale), "Expected finite number for loss but received " + std::to_string(req.loss_scale));
  RL_CHECK_ARG(req.loss_scale == 0.0f || m->want_loss,
               "Expected a training forward that computed the loss (loss: true) for loss but received one without it");
  RL_CHECK_ARG(req.dlogprobs == nullptr || m->have_targets,
               "Expected a training forward with targets for tokenLogprobs but received one without them");
  RL_CHECK_ARG(req.dvalues == nullptr || c.value_head,
               "Expected a model with a value head for values but received a model without one");
  if (req.dlogprobs != nullptr) RL_RETURN_IF_ERROR(check_finite(req.dlogprobs, BT, "tokenLogprobs"));
  if (req.dvalues != nullptr) RL_RETURN_IF_ERROR(check_finite(req.dvalues, BT, "values"));
  RL_RETURN_IF_ERROR(neox_grads(m, nullptr));
  size_t need = 0;
  layout_grads(m, BT, nullptr, &need);
  if (!m->bwd_buf.reserve(need)) return Status::OutOfMemory("out of memory allocating the GPT-NeoX backward scratch");
  m->train_ready = false;  // the logits become their gradient in place: one backward per forward

  const Grads g = layout_grads(m, BT, m->bwd_buf.p, &need);
  const Acts& a = m->acts;
  const ModelView& P = m->P;
  const ModelView& G = m->G;
  const bool tanh_act = c.activation == NeoxActivation::kGeluTanh;
  const uint8_t* mask = m->has_mask ? m->mask.data() : nullptr;
  auto resid = [&](int64_t l) { return a.resid + l * BT * C; };

  // d lnf (BT, C): from the LM head and the value head. g.dln holds it.
  float* dlnf = g.dln;
  std::memset(dlnf, 0, static_cast<size_t>(BT * C) * sizeof(float));
  const bool head = req.loss_scale != 0.0f || req.dlogprobs != nullptr;
  if (head) {
    if (!m->head_kept) return Status::Internal("GPT-NeoX backward: the training forward kept no logits");
    // per kept row i (row r of the batch): dlogits_i = pcoef·p + c1·e_y1 + c2·e_y2 (see xent_backward)
    const int64_t R = m->head_count;
    const int64_t* sel = m->head_all ? nullptr : m->head_rows.data();
    m->y1.assign(static_cast<size_t>(R), -1);
    m->y2.assign(static_cast<size_t>(R), -1);
    std::fill(g.pcoef, g.pcoef + R, 0.0f);
    std::fill(g.c1, g.c1 + R, 0.0f);
    std::fill(g.c2, g.c2 + R, 0.0f);
    NeoxBatch b;
    b.input_ids = m->ids.data();
    b.attention_mask = mask;
    b.B = B;
    b.T = T;
    // loss = Σ_pairs −log p(ids[r+1] | r) / pairs  →  dz_r = (p − e_y)·loss_scale/pairs
    const float w = req.loss_scale != 0.0f
                        ? static_cast<float>(static_cast<double>(req.loss_scale) / static_cast<double>(m->loss_pairs))
                        : 0.0f;
    for (int64_t i = 0; i < R; ++i) {
      const int64_t r = sel != nullptr ? sel[i] : i;
      if (w != 0.0f && loss_pair(b, r)) {
        g.pcoef[i] += w;
        g.c1[i] = -w;
        m->y1[static_cast<size_t>(i)] = m->ids[static_cast<size_t>(r + 1)];
      }
      // logp_r = z_y − lse  →  dz_r = d_r·(e_y − p)
      if (req.dlogprobs != nullptr && m->targets[static_cast<size_t>(r)] >= 0) {
        const float d = req.dlogprobs[r];
        g.pcoef[i] -= d;
        g.c2[i] = d;
        m->y2[static_cast<size_t>(i)] = m->targets[static_cast<size_t>(r)];
      }
    }
    if (R > 0) {
      float* dlogits = m->logits_buf.p;
      neox::xent_backward(dlogits, a.lse, g.pcoef, m->y1.data(), g.c1, m->y2.data(), g.c2, R, V);
      // forward: logits = h·W_outᵀ (h = lnf, or its selected rows) → dh = dlogits·W_out; dW_out += dlogitsᵀ·h
      if (sel == nullptr) {
        neox::matmul_backward(dlnf, G.wout, nullptr, dlogits, a.lnf, P.wout, BT, C, V, true);
      } else {
        neox::matmul_backward(g.dctx, G.wout, nullptr, dlogits, m->head_h.p, P.wout, R, C, V, false);
        neox::scatter_add_rows(dlnf, g.dctx, sel, R, C);
      }
    }
  }
  if (req.dvalues != nullptr) neox::value_backward(dlnf, G.v_w, G.v_b, req.dvalues, a.lnf, P.v_w, BT, C, m->value_dropout, m->value_dropout_seed);

  // final layer norm → d resid(L)
  float* dres = g.dresid;
  std::memset(dres, 0, static_cast<size_t>(BT * C) * sizeof(float));
  neox::layernorm_backward(dres, G.lnf_w, G.lnf_b, dlnf, resid(L), P.lnf_w, a.lnf_mean, a.lnf_rstd, BT, C);

  for (int64_t l = L - 1; l >= 0; --l) {
    const LayerView& w = P.layers[static_cast<size_t>(l)];
    const LayerView& dw = G.layers[static_cast<size_t>(l)];
    const float* x = resid(l);
    const float* ln1 = a.ln1 + l * BT * C;
    const float* ln1_mean = a.ln1_mean + l * BT;
    const float* ln1_rstd = a.ln1_rstd + l * BT;
    const float* qkv = a.qkv + l * BT * 3 * C;
    const float* att = a.att + l * B * NH * T * T;
    const float* ctx = a.ctx + l * BT * C;
    const float* ln2 = a.ln2 + l * BT * C;
    const float* ln2_mean = a.ln2_mean + l * BT;
    const float* ln2_rstd = a.ln2_rstd + l * BT;
    const float* fch = a.fch + l * BT * I;
    const float* fch_act = a.fch_act + l * BT * I;
    const float* mlp_in = c.parallel_residual ? x : a.resid_mid + l * BT * C;

    // dres holds d(layer output). Parallel: both blocks read it before either layer norm adds to it.
    if (c.parallel_residual) neox::matmul_backward(g.dctx, dw.dense_w, dw.dense_b, dres, ctx, w.dense_w, BT, C, C, false);

    // MLP block: out = proj(act(fc(ln2(mlp_in))))
    neox::matmul_backward(g.dfch, dw.proj_w, dw.proj_b, dres, fch_act, w.proj_w, BT, I, C, false);
    neox::gelu_backward(g.dfch, g.dfch, fch, BT * I, tanh_act);
    neox::matmul_backward(g.dln, dw.fc_w, dw.fc_b, g.dfch, ln2, w.fc_w, BT, C, I, false);
    // parallel: dres += LN2ᵀ(dln) is d x; sequential: it makes dres = d(x + a), the attention's output grad
    neox::layernorm_backward(dres, dw.ln2_w, dw.ln2_b, g.dln, mlp_in, w.ln2_w, ln2_mean, ln2_rstd, BT, C);

    // attention block: a = dense(attention(rotary(qkv(ln1(x)))))
    if (!c.parallel_residual) neox::matmul_backward(g.dctx, dw.dense_w, dw.dense_b, dres, ctx, w.dense_w, BT, C, C, false);
    neox::attention_backward(g.dqkv, g.dctx, qkv, att, B, T, attn_shape(m, l));
    neox::rotary_backward(g.dqkv, a.cos, a.sin, BT, NH, HD, RD);
    neox::matmul_backward(g.dln, dw.qkv_w, dw.qkv_b, g.dqkv, ln1, w.qkv_w, BT, C, 3 * C, false);
    neox::layernorm_backward(dres, dw.ln1_w, dw.ln1_b, g.dln, x, w.ln1_w, ln1_mean, ln1_rstd, BT, C);
  }

  // embeddings (tied: added to the LM head's part already in G.wte), and GPT-Neo's positions
  neox::embedding_backward(G.wte, dres, m->ids.data(), BT, C);
  if (G.wpe != nullptr) neox::position_embedding_backward(G.wpe, dres, m->pos.data(), BT, C);
  return Status::Ok();
}

}  // namespace rl
