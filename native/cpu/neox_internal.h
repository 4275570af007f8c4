// The GPT-NeoX handle's insides, shared by the files of the CPU backend that work on it
// (neox.cc: layout, forward, backward; neox_generate.cc: the KV cache, incremental forward and
// sampling). Internal: not part of the C++ API (rewardlens/neox.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "neox_ops.h"
#include "rewardlens/neox.h"

namespace rl {

namespace neox_detail {

// A float buffer, 64-byte aligned, grown on demand and kept (never shrunk) until released.
struct FloatBuf {
  float* p = nullptr;
  size_t n = 0;
  FloatBuf() = default;
  FloatBuf(const FloatBuf&) = delete;
  FloatBuf& operator=(const FloatBuf&) = delete;
  ~FloatBuf() { release(); }
  bool reserve(size_t count) {
    if (count <= n) return true;
    release();
    void* q = nullptr;
    if (posix_memalign(&q, 64, std::max<size_t>(count, 16) * sizeof(float)) != 0) return false;
    p = static_cast<float*>(q);
    n = count;
    return true;
  }
  void release() {
    std::free(p);
    p = nullptr;
    n = 0;
  }
};

struct TensorEntry {
  std::string name;
  int64_t offset = 0;
  int64_t numel = 0;
  int64_t ndim = 1;
  int64_t shape[2] = {0, 0};
};

// Named views into the parameter (or gradient) allocation. Biases absent from the config are null.
struct LayerView {
  float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
  float *qkv_w, *qkv_b, *dense_w, *dense_b;
  float *fc_w, *fc_b, *proj_w, *proj_b;
};
struct ModelView {
  float* wte = nullptr;  // (V,C) embed_in
  float* wpe = nullptr;  // (P,C) GPT-Neo's position embeddings, else null
  std::vector<LayerView> layers;
  float *lnf_w = nullptr, *lnf_b = nullptr;
  float* wout = nullptr;  // (V,C) embed_out, or wte when tied
  float *v_w = nullptr, *v_b = nullptr;
};

// Where each activation lives inside the activation allocation for one (B, T, train) shape.
// S layer slots (L in training, else 1) and SR residual slots (L + 1 in training, else 2).
struct Acts {
  int64_t S = 0, SR = 0;
  float* resid = nullptr;                                       // (SR, BT, C)
  float *ln1 = nullptr, *ln1_mean = nullptr, *ln1_rstd = nullptr;  // (S, BT, C), (S, BT), (S, BT)
  float* qkv = nullptr;                                         // (S, BT, 3C) after rotary
  float* att = nullptr;                                         // (S, B, NH, T, T)
  float* ctx = nullptr;                                         // (S, BT, C) attention before dense
  float* resid_mid = nullptr;                                   // (S, BT, C) sequential only
  float *ln2 = nullptr, *ln2_mean = nullptr, *ln2_rstd = nullptr;
  float *fch = nullptr, *fch_act = nullptr;                     // (S, BT, I)
  float *attn_out = nullptr, *mlp_out = nullptr;                // (BT, C) shared by all layers
  float *cos = nullptr, *sin = nullptr;                         // (BT, RD/2)
  float *lnf = nullptr, *lnf_mean = nullptr, *lnf_rstd = nullptr;  // (BT, C), (BT), (BT)
  float* lse = nullptr;                                         // (BT)
};

}  // namespace neox_detail

struct Neox;
namespace neox_detail {
// The attention of layer l: GPT-NeoX's interleaved heads and 1/√HD, or GPT-Neo's q|k|v blocks,
// unscaled scores and (on its local layers) the window.
neox::AttnShape attn_shape(const Neox* m, int64_t l);
}  // namespace neox_detail

struct Neox {
  NeoxConfig cfg;  // cfg.local_layers points at `local_layers` below
  int64_t HD = 0, RD = 0;
  std::vector<uint8_t> local_layers;  // (L) GPT-Neo: 1 = local attention; empty for GPT-NeoX
  std::vector<neox_detail::TensorEntry> tensors;
  int64_t num_params = 0;
  float* params = nullptr;
  float* grads = nullptr;
  neox_detail::ModelView P, G;

  neox_detail::FloatBuf acts_buf;    // activations (layout in `acts`, recomputed per forward)
  neox_detail::FloatBuf logits_buf;  // (BT, V) in training, (chunk, V) otherwise
  neox_detail::FloatBuf bwd_buf;     // backward scratch
  neox_detail::Acts acts;
  neox_detail::FloatBuf head_h;      // the selected rows of lnf, (rows, C), when the LM head runs on a subset
  std::vector<int32_t> pos_default;
  std::vector<int32_t> y1, y2;
  std::vector<int64_t> head_rows;  // rows of the LM head (when not all of them)

  // Training state: what the last training forward saw and kept.
  bool train_ready = false;
  int64_t B = 0, T = 0;
  std::vector<int32_t> ids, targets;
  std::vector<int32_t> pos;  // the positions used (GPT-Neo's wpe backward reads them)
  std::vector<uint8_t> mask;
  bool has_mask = false, head_kept = false, want_loss = false, have_targets = false;
  bool head_all = false;  // the kept logits are every row's (else those of head_rows)
  int64_t head_count = 0; // rows of kept logits
  int64_t loss_pairs = 0;
  float value_dropout = 0.0f;  // the value head's dropout of the last forward, and its mask seed
  uint32_t value_dropout_seed = 0;

  // Generation (neox_generate.cc): a KV cache and scratch kept between calls (grown, never shrunk)
  // until neox_release_activations. None of it touches the training state above.
  NeoxCache* gen_cache = nullptr;
  neox_detail::FloatBuf step_buf;    // one incremental forward's activations (layout in neox_generate.cc)
  neox_detail::FloatBuf head_logits; // (rows, V) logits of the LM head in an incremental forward
  neox_detail::FloatBuf sample_buf;  // per-thread sampling weights, (threads, V + V/1024 + 16)
  std::vector<uint64_t> sample_keys; // per-thread candidates (order keys), (threads, V)
  std::vector<double> sample_mass;   // per-thread mass of each bucket of keys, (threads, 4096)
  std::vector<int32_t> step_ids, step_pos;  // (B) a decode step's tokens and positions
  std::vector<int64_t> step_rows;           // (B) the cache rows still generating

  ~Neox() {
    neox_cache_destroy(gen_cache);
    std::free(params);
    std::free(grads);
  }
};

}  // namespace rl
