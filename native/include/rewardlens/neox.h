// rewardlens: a GPT-NeoX causal language model (Hugging Face transformers' GPTNeoXForCausalLM) or a
// GPT-Neo (GPTNeoForCausalLM, arch kGptNeo), optionally with TRL's scalar value head, as a native
// handle that owns its parameters, their gradients and the activations a backward pass needs.
// docs/neox.md writes out the math.
//
// Shapes: B rows of T tokens (BT = B·T), C = hidden_size, NH = num_heads, HD = C / NH,
// I = intermediate_size, V = vocab_size, L = num_layers. Every array is dense, row-major float32
// unless noted. Parameters use Hugging Face's names, shapes and order (src/model/neox-config.ts,
// neoxParameterSpecs) and live in ONE allocation: tensor k is params[offset_k .. offset_k + numel_k),
// packed without gaps, so the whole allocation is the concatenation of the tensors in that order.
// Gradients mirror that layout in a second allocation (made on first use; zeroing is one memset).
//
//   h0 = embed_in[ids]                              (GPT-Neo: wte[ids] + wpe[position_ids])
//   per layer: a = attention(ln1(x));  parallel:   x ← x + a + mlp(ln2(x))
//                                      sequential: x ← x + a;  x ← x + mlp(ln2(x))
//   h_final = final_layer_norm(x);  logits = h_final · W_outᵀ (W_out = embed_in when tied)
// (GPT-Neo's names: wte, wpe, ln_1, attn.attention.{q,k,v,out}_proj, ln_2, mlp.c_fc, mlp.c_proj,
// ln_f, lm_head; q, k and v are consecutive in the allocation, so together they are one [3C,C] matrix.)
//   value   = h_final · v_head.summary.weightᵀ + v_head.summary.bias   (value head only)
//
// Every function returns a Status; none throws or aborts. A handle is not thread-safe: run one
// call on it at a time (different handles may run concurrently).
#pragma once
#include <cstddef>
#include <cstdint>

#include "rewardlens/status.h"

namespace rl {

// The architecture: the parameter names and layout, and the attention's form.
enum class NeoxArch : int {
  kGptNeox = 0,  // GPTNeoXForCausalLM: fused query_key_value (heads interleaved [head][q,k,v][HD]),
                 //   rotary on the first rotary_dims of each head, scores q·k/√HD
  kGptNeo = 1,   // GPTNeoForCausalLM: learned position embeddings wpe beside wte; q_proj, k_proj, v_proj
                 //   without bias (heads contiguous), out_proj with bias; scores q·k (no scaling); per
                 //   layer global or local attention (a local query i sees keys i − window_size < j <= i,
                 //   sequence indices, padding included); sequential residual; no rotary
};

enum class NeoxActivation : int {
  kGeluErf = 0,   // "gelu": 0.5·x·(1 + erf(x/√2))
  kGeluTanh = 1,  // "gelu_new", "gelu_fast", "gelu_pytorch_tanh": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
};

struct NeoxConfig {
  NeoxArch arch = NeoxArch::kGptNeox;
  int64_t vocab_size = 0;         // V
  int64_t hidden_size = 0;        // C
  int64_t num_layers = 0;         // L
  int64_t num_heads = 0;          // NH; C % NH == 0
  int64_t intermediate_size = 0;  // I
  int64_t rotary_dims = 0;        // floor(HD·rotary_pct): even, in [0, HD] (GPT-Neo: 0)
  double rotary_base = 10000.0;   // rotary_emb_base / rope_theta
  float layer_norm_eps = 1e-5f;
  bool parallel_residual = true;  // GPT-Neo: false
  NeoxActivation activation = NeoxActivation::kGeluErf;
  bool tie_word_embeddings = false;  // no embed_out.weight: logits use embed_in.weight
  bool attention_bias = true;        // query_key_value.bias and dense.bias exist (GPT-Neo: ignored;
                                     //   q/k/v never have a bias, out_proj always has one)
  bool value_head = false;           // v_head.summary.weight [1,C] and v_head.summary.bias [1]
  // Rows of logits computed at a time by a forward that keeps none (no logits output, not
  // training): 0 picks max(128, 2^22 / V) rows, about 16 MB for V = 50304.
  int64_t lm_head_chunk_rows = 0;
  // GPT-Neo only:
  int64_t max_positions = 0;               // rows of wpe; every position id must be below it
  int64_t window_size = 0;                 // >= 1 when a layer is local
  const uint8_t* local_layers = nullptr;   // [L]: 1 = local, 0 = global; copied by neox_create (the
                                           //   handle's config points at its own copy)
};

enum class NeoxInit : int {
  kZeros = 0,   // every parameter 0 (for a loader that fills them all)
  kNormal = 1,  // as transformers' _init_weights: Linear and Embedding weights N(0, std), biases 0,
                // LayerNorm weight 1 and bias 0 (the value head's weight N(0, std), bias 0)
};

// One parameter tensor of the layout.
struct NeoxTensorInfo {
  const char* name = nullptr;  // Hugging Face name; valid while the handle lives
  int64_t offset = 0;          // in floats, into neox_params / neox_grads
  int64_t numel = 0;
  int64_t ndim = 0;            // 1 or 2
  int64_t shape[2] = {0, 0};
};

// A batch of token rows. Positions with attention_mask 0 (padding) are never attended to.
struct NeoxBatch {
  const int32_t* input_ids = nullptr;       // [B,T], each in [0, V)
  const uint8_t* attention_mask = nullptr;  // [B,T] 0/1, or null: all 1
  const int32_t* position_ids = nullptr;    // [B,T] >= 0, or null: counted from the first real
                                            // token of each row (cumsum(mask) − 1), 0 at padding
  int64_t B = 0;
  int64_t T = 0;
};

// Activations copied out during the forward pass ("hooks"), each [B,T,width]:
enum class NeoxHookPoint : int {
  kHidden = 0,   // hidden.i, i in [0, L]: transformers' hidden_states[i] (0 = embeddings,
                 //   i = output of layer i−1, L = after the final layer norm)           width C
  kResid = 1,    // resid.i, i in [0, L): the residual stream after layer i              width C
  kAttnOut = 2,  // attn_out.i: attention block output (after dense, + bias)             width C
  kMlpPost = 3,  // mlp_post.i: activation output, GELU(dense_h_to_4h(ln2(·)))           width I
  kMlpOut = 4,   // mlp_out.i: MLP block output (after dense_4h_to_h, + bias)            width C
};

struct NeoxHook {
  NeoxHookPoint point = NeoxHookPoint::kResid;
  int64_t layer = 0;
  float* out = nullptr;  // [B,T,width]
};

// What a forward pass computes. Every output pointer may be null (not computed).
struct NeoxForwardRequest {
  float* logits = nullptr;           // [B,T,V] out
  const int32_t* targets = nullptr;  // [B,T] in [−1, V): −1 skips the position
  float* token_logprobs = nullptr;   // [B,T] out: log softmax(logits)[targets] (0 where skipped); needs targets
  double* loss = nullptr;            // out: mean over pairs (t, t+1) with mask 1 at both of
                                     //   −log softmax(logits[b,t])[ids[b,t+1]]; needs >= 1 such pair
  float* last_hidden = nullptr;      // [B,T,C] out: after the final layer norm
  float* values = nullptr;           // [B,T] out: value head only
  // TRL's ValueHead: Dropout(value_dropout) on the hidden state before the linear layer. The mask of
  // (row n, feature c) is keep ⇔ value_dropout_hash(seed, n, c) >= p·2^32, kept entries scaled by
  // 1/(1 − p); a training forward remembers p and the seed so the backward uses the same mask.
  float value_dropout = 0.0f;        // p in [0, 1)
  uint32_t value_dropout_seed = 0;
  const NeoxHook* hooks = nullptr;
  int64_t num_hooks = 0;
  // Keep what neox_backward needs: every layer's activations, and (when loss or targets are
  // requested) the logits of the rows with a target or a loss pair ([BT,V] at most). See
  // docs/neox.md for the sizes. Without train, the LM head runs on those rows only, in chunks of
  // lm_head_chunk_rows, unless the logits themselves are requested.
  bool train = false;
};

// The upstream gradients of the objective J = loss_scale·loss + Σ dlogprobs·token_logprobs
// + Σ dvalues·values (each term optional) with respect to the last training forward's outputs.
struct NeoxBackwardRequest {
  float loss_scale = 0.0f;             // dJ/dloss; != 0 needs a forward that requested loss
  const float* dlogprobs = nullptr;    // [B,T] or null; needs a forward with targets (ignored where target −1)
  const float* dvalues = nullptr;      // [B,T] or null; needs the value head
};

// The value-head dropout hash of (seed, row n, feature c): a 32-bit integer mix, reproducible from
// any language (see value_forward in native/cpu/neox_ops.cc and the test's reference).
inline uint32_t value_dropout_hash(uint32_t seed, uint32_t n, uint32_t c) {
  uint32_t x = seed ^ (n * 0x9E3779B1u);
  x ^= x >> 16; x *= 0x85EBCA6Bu; x ^= x >> 13;
  x ^= c * 0xC2B2AE35u;
  x ^= x >> 16; x *= 0x7FEB352Du; x ^= x >> 15; x *= 0x846CA68Bu; x ^= x >> 16;
  return x;
}

struct Neox;  // the handle, opaque outside neox.cc

// Creates a handle and initialises its parameters. kInvalidArgument names the bad config field;
// kOutOfMemory when the parameters cannot be allocated.
Status neox_create(const NeoxConfig& cfg, NeoxInit init, uint64_t seed, float init_std, Neox** out);
void neox_destroy(Neox* model);  // accepts nullptr

const NeoxConfig& neox_config(const Neox* model);
int64_t neox_num_tensors(const Neox* model);
Status neox_tensor_info(const Neox* model, int64_t index, NeoxTensorInfo* info);
int64_t neox_num_params(const Neox* model);  // floats in the parameter allocation
float* neox_params(Neox* model);             // the parameter allocation (writable)
// The gradient allocation, made (zeroed) on first call; kOutOfMemory when that fails.
Status neox_grads(Neox* model, float** grads);
// Zeroes the gradients (one memset; nothing to do before they exist).
void neox_zero_grad(Neox* model);

// Forward pass over a batch (see NeoxForwardRequest). Any forward ends the training state of the
// previous one; a train forward starts a new one.
Status neox_forward(Neox* model, const NeoxBatch& batch, const NeoxForwardRequest& req);

// Backward from the last training forward, accumulated (+=) into the gradients (allocated on first
// use). Each training forward allows one backward: the stored logits are turned into their
// gradient in place. Without one, kInvalidArgument (never a crash).
Status neox_backward(Neox* model, const NeoxBackwardRequest& req);

// Bytes held: parameters, gradients (once made), activations and scratch (generation's included).
size_t neox_memory_bytes(const Neox* model);
// Frees activations and scratch (ends any training state), and generation's KV cache and scratch;
// the next forward or generate allocates again.
void neox_release_activations(Neox* model);

// ---- incremental decoding: a KV cache ------------------------------------------------------------
// (neox_generate.cc; docs/neox.md, "Generation".)
//
// A cache holds, for B rows of up to max_len columns: per layer the keys (after rotary) and the
// values, [B,NH,max_len,HD] each — 2·L·B·max_len·C floats — the attention mask of every column
// filled so far, [B,max_len], and each row's next position. neox_forward_cached appends columns
// to it. A cache is sized by a model's shape and works with any model of that shape; it is not
// thread-safe (one call at a time), and a model reads it only inside neox_forward_cached.
struct NeoxCache;

// kInvalidArgument for B or max_len < 1; kOutOfMemory when the cache cannot be allocated.
Status neox_cache_create(const Neox* model, int64_t B, int64_t max_len, NeoxCache** out);
void neox_cache_destroy(NeoxCache* cache);  // accepts nullptr
int64_t neox_cache_rows(const NeoxCache* cache);     // B
int64_t neox_cache_capacity(const NeoxCache* cache); // max_len
int64_t neox_cache_length(const NeoxCache* cache);   // columns filled, in [0, max_len]
void neox_cache_reset(NeoxCache* cache);              // length 0 (nothing is freed)
size_t neox_cache_memory_bytes(const NeoxCache* cache);

// The model on the next chunk.T columns of every row of the cache (chunk.B = the cache's B,
// length + chunk.T <= max_len). Their keys and values are appended to the cache and every query
// attends to the cached columns and to the chunk's columns up to itself, those with mask 1 only:
// the same logits as neox_forward on the concatenation of everything appended so far.
// chunk.position_ids null: each row goes on counting from its last real token (its first real
// token is 0; 0 at padding), as neox_forward's default over the whole sequence. Given positions
// are used as they are, and a row's next default position is its last real token's plus 1.
// logits: [B,V] at the chunk's last column, or [B,T,V] (every column) when all_positions, or null
// (only fill the cache). Leaves any training state as it was. On an error the cache's length is
// unchanged.
Status neox_forward_cached(Neox* model, NeoxCache* cache, const NeoxBatch& chunk, float* logits,
                           bool all_positions);

// ---- generation -----------------------------------------------------------------------------------
// Sampling from the next-token distribution at temperature τ, as Hugging Face's generate orders
// it: EOS suppressed (logit −inf) while fewer than min_new_tokens are out, then logits/τ, then
// top-k, then top-p over what top-k kept (renormalised), then a draw. Greedy: argmax of the logits
// (EOS suppressed the same way), ties to the smallest id.
struct NeoxGenerateOptions {
  int64_t max_new_tokens = 0;              // >= 1: the width of the outputs
  const int32_t* row_max_new_tokens = nullptr;  // [B] in [1, max_new_tokens], or null: all max_new_tokens
  int64_t min_new_tokens = 0;              // in [0, max_new_tokens]: EOS is never drawn before (a row's
                                           //   own maximum caps it)
  float temperature = 1.0f;                // > 0 (ignored when greedy)
  int64_t top_k = 0;                       // 0 = off; else keep the k largest (ties: smaller ids first)
  float top_p = 1.0f;                      // (0, 1]; 1 = off; else the smallest set of the largest
                                           //   probabilities whose sum is >= top_p (at least one token)
  bool greedy = false;
  int64_t eos_token_id = -1;               // −1: none; else a row that emits it stops (EOS counted)
  int32_t pad_token_id = 0;                // fills each row's outputs after it stops
  uint64_t seed = 0;                       // draw (row b, token s) uses its own counter-based stream
                                           //   (seed, b, s): the same tokens whatever the thread count
};

struct NeoxGenerateOutput {
  int32_t* tokens = nullptr;   // [B, max_new_tokens] out; pad_token_id after a row's length
  int32_t* lengths = nullptr;  // [B] out: new tokens of each row, EOS included
  float* logprobs = nullptr;   // [B, max_new_tokens] out, or null: log softmax(logits)[token] of the
                               //   model itself (τ = 1, before any suppression or truncation), the
                               //   same as neox_forward's token_logprobs of the sequence; 0 after the length
};

// Generates from B left-padded prompts (every row's last column real, attention_mask 1; position
// ids as neox_forward's). The prompts are run in one pass (in chunks of columns when B·T is large),
// then one token per step for every row still going, each step reading every weight matrix once
// for all those rows. A row stops after EOS or its maximum; generation ends when all have.
// Uses the handle's own cache (2·L·B·(T + max_new_tokens − 1)·C floats, kept for the next call)
// and leaves any training state as it was.
Status neox_generate(Neox* model, const NeoxBatch& prompts, const NeoxGenerateOptions& opts,
                     const NeoxGenerateOutput& out);

}  // namespace rl
