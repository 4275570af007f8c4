// rewardlens: a GPT-NeoX causal language model (Hugging Face transformers' GPTNeoXForCausalLM),
// optionally with TRL's scalar value head, as a native handle that owns its parameters, their
// gradients and the activations a backward pass needs. docs/neox.md writes out the math.
//
// Shapes: B rows of T tokens (BT = B·T), C = hidden_size, NH = num_heads, HD = C / NH,
// I = intermediate_size, V = vocab_size, L = num_layers. Every array is dense, row-major float32
// unless noted. Parameters use Hugging Face's names, shapes and order (src/model/neox-config.ts,
// neoxParameterSpecs) and live in ONE allocation: tensor k is params[offset_k .. offset_k + numel_k),
// packed without gaps, so the whole allocation is the concatenation of the tensors in that order.
// Gradients mirror that layout in a second allocation (made on first use; zeroing is one memset).
//
//   h0 = embed_in[ids]
//   per layer: a = attention(ln1(x));  parallel:   x ← x + a + mlp(ln2(x))
//                                      sequential: x ← x + a;  x ← x + mlp(ln2(x))
//   h_final = final_layer_norm(x);  logits = h_final · W_outᵀ (W_out = embed_in when tied)
//   value   = h_final · v_head.summary.weightᵀ + v_head.summary.bias   (value head only)
//
// Every function returns a Status; none throws or aborts. A handle is not thread-safe: run one
// call on it at a time (different handles may run concurrently).
#pragma once
#include <cstddef>
#include <cstdint>

#include "rewardlens/status.h"

namespace rl {

enum class NeoxActivation : int {
  kGeluErf = 0,   // "gelu": 0.5·x·(1 + erf(x/√2))
  kGeluTanh = 1,  // "gelu_new", "gelu_fast", "gelu_pytorch_tanh": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
};

struct NeoxConfig {
  int64_t vocab_size = 0;         // V
  int64_t hidden_size = 0;        // C
  int64_t num_layers = 0;         // L
  int64_t num_heads = 0;          // NH; C % NH == 0
  int64_t intermediate_size = 0;  // I
  int64_t rotary_dims = 0;        // floor(HD·rotary_pct): even, in [0, HD]
  double rotary_base = 10000.0;   // rotary_emb_base / rope_theta
  float layer_norm_eps = 1e-5f;
  bool parallel_residual = true;
  NeoxActivation activation = NeoxActivation::kGeluErf;
  bool tie_word_embeddings = false;  // no embed_out.weight: logits use embed_in.weight
  bool attention_bias = true;        // query_key_value.bias and dense.bias exist
  bool value_head = false;           // v_head.summary.weight [1,C] and v_head.summary.bias [1]
  // Rows of logits computed at a time by a forward that keeps none (no logits output, not
  // training): 0 picks max(128, 2^22 / V) rows, about 16 MB for V = 50304.
  int64_t lm_head_chunk_rows = 0;
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

// Bytes held: parameters, gradients (once made), activations and scratch.
size_t neox_memory_bytes(const Neox* model);
// Frees activations and scratch (ends any training state); the next forward allocates again.
void neox_release_activations(Neox* model);

}  // namespace rl
