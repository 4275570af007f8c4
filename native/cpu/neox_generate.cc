// Generation for the GPT-NeoX model on the CPU: the KV cache, the incremental forward over it, and
// sampling. docs/neox.md ("Generation") writes out the rules; rewardlens/neox.h the contract.
//
// Incremental forward of a chunk of Bn rows × Tn new columns (a prompt, or one token per row):
//   x = embed_in[ids]; per layer:
//     qkv = LN1(x)·Wqkvᵀ + b; rotary(q, k) at the chunk's positions; append k, v to the cache;
//     ctx = attention of each query over the cached columns up to its own (mask 1 only)
//     a = ctx·Wdᵀ + b;  parallel: x ← x + a + MLP(LN2(x));  sequential: x ← x + a; x ← x + MLP(LN2(x))
//   logits = LN_f(x)·W_outᵀ at the chunk's last column (or every column)
// The same ops as neox_forward (neox_ops.h), with the attention reading the cache, the residual
// updated in place, and the linear layers in matmul_forward_rows, which for a decode step streams
// each weight matrix from memory once for all rows. Nothing is allocated per step once the buffers
// have grown to the call's size.
#include <algorithm>
#include <cmath>
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
#include "vecmath.h"

namespace rl {

using namespace neox_detail;

struct NeoxCache {
  int64_t L = 0, NH = 0, HD = 0;  // the model shape it is laid out for
  int64_t B = 0, max_len = 0, len = 0;
  FloatBuf kv;                    // (L, 2, B, NH, max_len, HD): layer l's keys, then its values
  std::vector<uint8_t> mask;      // (B, max_len): the attention mask of the filled columns
  std::vector<int32_t> next_pos;  // (B): the position of each row's next real token

  size_t layer_floats() const { return static_cast<size_t>(B * NH * max_len * HD); }
  float* k(int64_t l) { return kv.p + static_cast<size_t>(2 * l) * layer_floats(); }
  float* v(int64_t l) { return kv.p + static_cast<size_t>(2 * l + 1) * layer_floats(); }
};

namespace {

std::string str(int64_t v) { return std::to_string(v); }

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// (Re)lays out a cache for B rows of max_len columns, growing its buffer when needed; empties it.
Status cache_configure(NeoxCache* c, int64_t B, int64_t max_len) {
  const double floats = 2.0 * static_cast<double>(c->L) * B * c->NH * max_len * c->HD;
  if (floats > 1e15 || !c->kv.reserve(static_cast<size_t>(floats))) {
    return Status::OutOfMemory("out of memory allocating a KV cache of " + std::to_string(floats * 4) + " bytes for " +
                               str(B) + " rows of " + str(max_len) + " tokens");
  }
  c->B = B;
  c->max_len = max_len;
  c->len = 0;
  c->mask.assign(static_cast<size_t>(B * max_len), 0);
  c->next_pos.assign(static_cast<size_t>(B), 0);
  return Status::Ok();
}

// Where one incremental forward's activations live in m->step_buf, for N rows (R of them through
// the LM head).
struct StepActs {
  float *x, *ln, *mean, *rstd, *qkv, *ctx, *attn_out, *mlp_out, *fch, *cos, *sin, *lnf, *att;
};

size_t layout_step(const Neox* m, int64_t N, int64_t R, int64_t Tmax, float* base, StepActs* s) {
  const int64_t C = m->cfg.hidden_size, I = m->cfg.intermediate_size;
  size_t off = 0;
  auto take = [&](int64_t count) -> float* {
    float* p = base ? base + off : nullptr;
    off += static_cast<size_t>((count + 15) / 16 * 16);  // 64-byte aligned arrays
    return p;
  };
  StepActs a;
  a.x = take(N * C);
  a.ln = take(N * C);
  a.mean = take(N);
  a.rstd = take(N);
  a.qkv = take(N * 3 * C);
  a.ctx = take(N * C);
  a.attn_out = take(N * C);
  a.mlp_out = take(N * C);
  a.fch = take(N * I);
  a.cos = take(N * std::max<int64_t>(m->RD / 2, 1));
  a.sin = take(N * std::max<int64_t>(m->RD / 2, 1));
  a.lnf = take(R * C);
  a.att = take(neox::attention_cached_scratch(Tmax));
  if (s) *s = a;
  return off;
}

// out = inp·wᵀ + bias: matmul_forward_rows wherever it is the faster (see neox_ops.h), else the GEMM.
void linear(float* out, const float* inp, const float* w, const float* bias, int64_t N, int64_t IN, int64_t OUT) {
  if (N <= neox::matmul_rows_max()) {
    neox::matmul_forward_rows(out, inp, w, bias, N, IN, OUT);
  } else {
    neox::matmul_forward(out, inp, w, bias, N, IN, OUT);
  }
}

// Positions of a chunk (Bn, Tn) of cache rows `rows` (null: row i): given ones as they are, else each
// row continuing from its next position (0 at padding); the rows' next positions move past the
// chunk's last real token either way.
void chunk_positions(NeoxCache* c, const uint8_t* mask, const int32_t* given, const int64_t* rows, int64_t Bn,
                     int64_t Tn, int32_t* pos) {
  for (int64_t i = 0; i < Bn; ++i) {
    const int64_t b = rows != nullptr ? rows[i] : i;
    int32_t& next = c->next_pos[static_cast<size_t>(b)];
    for (int64_t t = 0; t < Tn; ++t) {
      const int64_t r = i * Tn + t;
      const bool real = mask == nullptr || mask[r] != 0;
      if (given != nullptr) {
        pos[r] = given[r];
        if (real) next = given[r] + 1;
      } else {
        pos[r] = real ? next++ : 0;
      }
    }
  }
}

// The incremental forward of a chunk (see the top of the file). The chunk's columns are
// c->len .. c->len + Tn − 1 of cache rows `rows` (null: row i, Bn = c->B); their mask goes into the
// cache (null: all 1). pos (Bn, Tn) are resolved positions. logits: null (only the cache is
// filled), (Bn, V) at the last column, or (Bn, Tn, V) when all_positions. Does not advance c->len.
Status step_forward(Neox* m, NeoxCache* c, const int32_t* ids, const uint8_t* mask, const int32_t* pos,
                    const int64_t* rows, int64_t Bn, int64_t Tn, float* logits, bool all_positions) {
  const NeoxConfig& cfg = m->cfg;
  const int64_t C = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size, L = cfg.num_layers;
  const int64_t NH = cfg.num_heads, HD = m->HD, RD = m->RD;
  const int64_t N = Bn * Tn, R = all_positions ? N : Bn;
  const int64_t start = c->len, Tmax = c->max_len;
  const bool tanh_act = cfg.activation == NeoxActivation::kGeluTanh;
  if (cfg.arch == NeoxArch::kGptNeo) {  // every position needs a row of wpe
    for (int64_t i = 0; i < N; ++i) {
      if (pos[i] >= cfg.max_positions) {
        return Status::Invalid("Expected positions below maxPositions " + str(cfg.max_positions) +
                               " for positionIds but received " + str(pos[i]) + " at index " + str(i));
      }
    }
  }
  const size_t need = layout_step(m, N, R, Tmax, nullptr, nullptr);
  if (!m->step_buf.reserve(need)) {
    return Status::OutOfMemory("out of memory allocating " + str(static_cast<int64_t>(need * sizeof(float))) +
                               " bytes of GPT-NeoX activations for an incremental forward of " + str(N) + " rows");
  }
  StepActs a;
  layout_step(m, N, R, Tmax, m->step_buf.p, &a);
  const ModelView& P = m->P;

  for (int64_t i = 0; i < Bn; ++i) {
    const int64_t b = rows != nullptr ? rows[i] : i;
    for (int64_t t = 0; t < Tn; ++t) c->mask[static_cast<size_t>(b * Tmax + start + t)] = mask == nullptr ? 1 : mask[i * Tn + t];
  }
  neox::embedding_forward(a.x, ids, P.wte, N, C);
  if (P.wpe != nullptr) neox::position_embedding_forward(a.x, pos, P.wpe, N, C);
  neox::rotary_tables(a.cos, a.sin, pos, N, RD, cfg.rotary_base);

  for (int64_t l = 0; l < L; ++l) {
    const LayerView& w = P.layers[static_cast<size_t>(l)];
    // attention block: a = dense(attention over the cache(rotary(qkv(ln1(x)))))
    neox::layernorm_forward(a.ln, a.mean, a.rstd, a.x, w.ln1_w, w.ln1_b, N, C, cfg.layer_norm_eps);
    linear(a.qkv, a.ln, w.qkv_w, w.qkv_b, N, C, 3 * C);
    neox::rotary_forward(a.qkv, a.cos, a.sin, N, NH, HD, RD);
    const neox::AttnShape shape = attn_shape(m, l);
    neox::kv_cache_append(c->k(l), c->v(l), a.qkv, rows, Bn, Tn, start, Tmax, shape);
    neox::attention_cached_forward(a.ctx, a.qkv, c->k(l), c->v(l), c->mask.data(), rows, Bn, Tn, start, Tmax, shape,
                                   a.att);
    linear(a.attn_out, a.ctx, w.dense_w, w.dense_b, N, C, C);
    // MLP block on ln2 of x (parallel) or of x + a (sequential); the residual updated in place
    if (!cfg.parallel_residual) neox::residual_forward(a.x, a.x, a.attn_out, N * C);
    neox::layernorm_forward(a.ln, a.mean, a.rstd, a.x, w.ln2_w, w.ln2_b, N, C, cfg.layer_norm_eps);
    linear(a.fch, a.ln, w.fc_w, w.fc_b, N, C, I);
    neox::gelu_forward(a.fch, a.fch, N * I, tanh_act);
    linear(a.mlp_out, a.fch, w.proj_w, w.proj_b, N, I, C);
    if (cfg.parallel_residual) {
      neox::residual3_forward(a.x, a.x, a.attn_out, a.mlp_out, N * C);
    } else {
      neox::residual_forward(a.x, a.x, a.mlp_out, N * C);
    }
  }
  if (logits == nullptr) return Status::Ok();
  // final layer norm on the head's rows, then the LM head
  const float* h = a.x;
  if (!all_positions && Tn > 1) {
    for (int64_t i = 0; i < Bn; ++i) std::memcpy(a.lnf + i * C, a.x + (i * Tn + Tn - 1) * C, static_cast<size_t>(C) * sizeof(float));
    h = a.lnf;
  }
  neox::layernorm_forward(a.lnf, a.mean, a.rstd, h, P.lnf_w, P.lnf_b, R, C, cfg.layer_norm_eps);
  linear(logits, a.lnf, P.wout, nullptr, R, C, V);
  return Status::Ok();
}

// Checks ids, mask and positions of a (B, T) batch; the message names the argument.
Status check_tokens(const Neox* m, const NeoxBatch& b, const char* what) {
  const int64_t BT = b.B * b.T, V = m->cfg.vocab_size;
  const std::string w = what;
  RL_CHECK_ARG(b.input_ids != nullptr, "Expected Int32Array of shape [B,T] for " + w + "inputIds but received null");
  for (int64_t i = 0; i < BT; ++i) {
    if (b.input_ids[i] < 0 || b.input_ids[i] >= V) {
      return Status::Invalid("Expected integers in [0, " + str(V) + ") for " + w + "inputIds but received " +
                             str(b.input_ids[i]) + " at index " + str(i));
    }
  }
  if (b.attention_mask != nullptr) {
    for (int64_t i = 0; i < BT; ++i) {
      if (b.attention_mask[i] > 1) {
        return Status::Invalid("Expected 0/1 entries for " + w + "attentionMask but received " + str(b.attention_mask[i]) +
                               " at index " + str(i));
      }
    }
  }
  if (b.position_ids != nullptr) {
    for (int64_t i = 0; i < BT; ++i) {
      if (b.position_ids[i] < 0) {
        return Status::Invalid("Expected integers >= 0 for " + w + "positionIds but received " + str(b.position_ids[i]) +
                               " at index " + str(i));
      }
    }
  }
  return Status::Ok();
}

Status check_cache(const Neox* m, const NeoxCache* c) {
  RL_CHECK_ARG(c != nullptr, "Expected a KV cache for cache but received null");
  RL_CHECK_ARG(c->L == m->cfg.num_layers && c->NH == m->cfg.num_heads && c->HD == m->HD,
               "Expected a KV cache made for this model's shape (" + str(m->cfg.num_layers) + " layers, " +
                   str(m->cfg.num_heads) + " heads of " + str(m->HD) + ") for cache but received one for " + str(c->L) +
                   " layers, " + str(c->NH) + " heads of " + str(c->HD));
  return Status::Ok();
}

// ---- sampling -------------------------------------------------------------------------------------

inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The uniform in [0, 1) of draw (row b, new token s): a hash of (seed, b, s), so that it depends on
// nothing else (not the thread that samples the row, nor which other rows are still going).
inline double uniform(uint64_t seed, int64_t b, int64_t s) {
  const uint64_t h = mix64(mix64(mix64(seed) ^ static_cast<uint64_t>(b)) ^ (static_cast<uint64_t>(s) * 0xd1b54a32d192ed03ULL));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
}

constexpr int64_t kBlock = 1024;  // block sums let the draw skip to its block of the vocabulary

struct SampleParams {
  int64_t V = 0;
  float inv_temp = 1.0f;
  int64_t top_k = 0;
  float top_p = 1.0f;
  bool greedy = false;
};

// Candidates are 64-bit keys whose order is the sorted distribution's: a larger logit first, then
// the smaller id — (the logit's bits made order-preserving) << 32 | (2^32 − 1 − id). Larger key =
// earlier; integer compares keep the selection loops branch-light.
inline uint64_t order_key(float z, int64_t id) {
  uint32_t b;
  std::memcpy(&b, &z, sizeof b);
  b = (b & 0x80000000u) != 0 ? ~b : (b | 0x80000000u);
  return (static_cast<uint64_t>(b) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(id));
}
inline int32_t key_id(uint64_t key) { return static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(key)); }

// The top kBucketBits bits of a key: buckets of logits in key order (sign, exponent, 3 mantissa
// bits), for selecting by mass without sorting.
constexpr int kBucketBits = 12;
inline uint32_t bucket_of(uint64_t key) { return static_cast<uint32_t>(key >> (64 - kBucketBits)); }

// Moves the nucleus of candidates key[0..n) to their front: the fewest of them, taken in key order,
// whose weights w[id] sum to >= need (all of them when rounding leaves the sum short). Returns
// their count (>= 1 for n >= 1) and their weight in *mass. A quickselect on mass: expected O(n),
// where sorting would be O(n log n) — the nucleus of a flat distribution is most of the vocabulary.
int64_t select_nucleus(uint64_t* key, int64_t n, const float* w, double need, double* mass) {
  int64_t lo = 0, hi = n;  // key[0..lo) is taken (each before everything in [lo, n)); search [lo, hi)
  double acc = 0.0;
  while (hi - lo > 16) {
    uint64_t a = key[lo], b = key[lo + (hi - lo) / 2], c = key[hi - 1];  // pivot: median of three
    if (b > a) std::swap(a, b);
    if (c > b) std::swap(b, c);
    if (b > a) std::swap(a, b);
    const uint64_t pivot = b;
    uint64_t* mid = std::partition(key + lo, key + hi, [pivot](uint64_t k) { return k > pivot; });
    std::iter_swap(mid, std::find(mid, key + hi, pivot));
    const int64_t m = mid - key;
    double left = 0.0;
    for (int64_t i = lo; i < m; ++i) left += w[key_id(key[i])];
    if (acc + left >= need) {  // the nucleus ends before the pivot
      hi = m;
      continue;
    }
    acc += left + w[key_id(pivot)];
    if (acc >= need) {
      *mass = acc;
      return m + 1;
    }
    lo = m + 1;
  }
  std::sort(key + lo, key + hi, [](uint64_t x, uint64_t y) { return x > y; });
  for (int64_t i = lo; i < hi; ++i) {
    acc += w[key_id(key[i])];
    if (acc >= need) {
      *mass = acc;
      return i + 1;
    }
  }
  *mass = acc;
  return hi;
}

// The first of candidates key[0..n) whose running weight passes target (the last one when
// rounding leaves the sum short).
int32_t draw_keys(const uint64_t* key, int64_t n, const float* w, double target) {
  double cum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    cum += w[key_id(key[i])];
    if (cum > target) return key_id(key[i]);
  }
  return key_id(key[n - 1]);
}

// One token from logits z (V) of a row. eos >= 0: that token is excluded. u: the draw's uniform.
// Scratch: w (V + V/kBlock + 1 floats), key (V), bucket_mass (2^kBucketBits).
int32_t sample_row(const float* z, const SampleParams& p, int64_t eos, double u, float* w, uint64_t* key,
                   double* bucket_mass) {
  const int64_t V = p.V;
  // the largest logit among the allowed tokens (ties: the smallest id)
  float top = kNegInf;
#pragma omp simd reduction(max : top)
  for (int64_t v = 0; v < V; ++v) top = std::max(top, v == eos ? kNegInf : z[v]);
  int64_t arg = eos == 0 ? 1 : 0;
  while (arg < V - 1 && (arg == eos || z[arg] != top)) ++arg;
  if (p.greedy) return static_cast<int32_t>(arg);
  const float zmax = z[arg];
  const float it = p.inv_temp;
  const int64_t allowed = eos >= 0 ? V - 1 : V;

  if (p.top_k > 0 && p.top_k < allowed) {
    // top-k: the k largest keys (larger logit, then smaller id)
    const int64_t k = p.top_k;
    const auto later = [](uint64_t x, uint64_t y) { return x > y; };  // a min-heap of keys
    if (k <= 4096) {
      // one pass with a heap of the k best so far: most tokens fail against its minimum
      int64_t n = 0;
      for (int64_t v = 0; v < V; ++v) {
        if (v == eos) continue;
        const uint64_t kv = order_key(z[v], v);
        if (n < k) {
          key[n++] = kv;
          std::push_heap(key, key + n, later);
        } else if (kv > key[0]) {
          std::pop_heap(key, key + n, later);
          key[n - 1] = kv;
          std::push_heap(key, key + n, later);
        }
      }
    } else {
      int64_t n = 0;
      for (int64_t v = 0; v < V; ++v) {
        if (v != eos) key[n++] = order_key(z[v], v);
      }
      std::nth_element(key, key + (k - 1), key + n, later);
    }
    int64_t n = k;
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const int32_t v = key_id(key[i]);
      w[v] = exp_approx((z[v] - zmax) * it);
      total += w[v];
    }
    // nucleus over the top-k distribution (renormalised)
    if (p.top_p < 1.0f) n = select_nucleus(key, n, w, static_cast<double>(p.top_p) * total, &total);
    return draw_keys(key, n, w, u * total);
  }

  // every allowed token's weight exp((z − zmax)/τ), and per-block sums
  const int64_t nblocks = (V + kBlock - 1) / kBlock;
  double total = 0.0;
  float* bsum = w + V;  // nblocks floats after the weights
  for (int64_t b0 = 0; b0 < nblocks; ++b0) {
    const int64_t v0 = b0 * kBlock, v1 = std::min(V, v0 + kBlock);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t v = v0; v < v1; ++v) {
      const float e = exp_approx((z[v] - zmax) * it);
      w[v] = e;
      s += e;
    }
    if (eos >= v0 && eos < v1) {
      s -= w[eos];
      w[eos] = 0.0f;
    }
    bsum[b0] = s;
    total += s;
  }

  if (p.top_p < 1.0f) {
    // nucleus: the fewest best tokens (in key order) whose mass is >= top_p·total.
    const double need = static_cast<double>(p.top_p) * total;
    // tokens of weight below t = (1 − p)·total/V hold less than (1 − p) of the mass together, so
    // the nucleus lies among the rest: when they are few (a peaked distribution), select among them
    const float t = static_cast<float>((1.0 - static_cast<double>(p.top_p)) * total / static_cast<double>(V));
    int64_t heavy = 0;
#pragma omp simd reduction(+ : heavy)
    for (int64_t v = 0; v < V; ++v) heavy += w[v] > 0.0f && w[v] >= t ? 1 : 0;
    if (heavy <= 4096) {
      int64_t n = 0;
      for (int64_t v = 0; v < V; ++v) {
        if (w[v] > 0.0f && w[v] >= t) key[n++] = order_key(z[v], v);
      }
      double mass = 0.0;
      const int64_t m = select_nucleus(key, n, w, need, &mass);
      return draw_keys(key, m, w, u * mass);
    }
    // else (a flat distribution, whose nucleus is most of the vocabulary): the mass of each bucket
    // of keys; the buckets above the one where the running mass from the top reaches top_p·total
    // are all in, and the nucleus ends inside that bucket, where select_nucleus finds the rest
    double* bmass = bucket_mass;
    std::fill(bmass, bmass + (1 << kBucketBits), 0.0);
    for (int64_t v = 0; v < V; ++v) {
      if (w[v] > 0.0f) bmass[bucket_of(order_key(z[v], v))] += w[v];
    }
    uint32_t cut = (1u << kBucketBits) - 1;
    double above = 0.0;  // mass of the buckets above `cut`
    for (;; --cut) {
      if (above + bmass[cut] >= need || cut == 0) break;
      above += bmass[cut];
    }
    int64_t n = 0;
    for (int64_t v = 0; v < V; ++v) {
      if (w[v] > 0.0f && bucket_of(order_key(z[v], v)) == cut) key[n++] = order_key(z[v], v);
    }
    double mass = 0.0;
    const int64_t m = select_nucleus(key, n, w, need - above, &mass);
    // draw: the buckets above in id order, then the selected part of `cut`
    const double target = u * (above + mass);
    double cum = 0.0;
    for (int64_t v = 0; v < V; ++v) {
      if (w[v] > 0.0f && bucket_of(order_key(z[v], v)) > cut) {
        cum += w[v];
        if (cum > target) return static_cast<int32_t>(v);
      }
    }
    if (m == 0) {  // rounding: the mass above already sufficed; the last token above
      for (int64_t v = V - 1; v >= 0; --v) {
        if (w[v] > 0.0f && bucket_of(order_key(z[v], v)) > cut) return static_cast<int32_t>(v);
      }
    }
    return draw_keys(key, m, w, target - cum);
  }

  // the whole distribution: find the block, then the token
  const double target = u * total;
  double cum = 0.0;
  int64_t last_block = -1;
  for (int64_t b0 = 0; b0 < nblocks; ++b0) {
    if (bsum[b0] <= 0.0f) continue;
    last_block = b0;
    if (cum + bsum[b0] > target) break;
    cum += bsum[b0];
  }
  const int64_t v0 = last_block * kBlock, v1 = std::min(V, v0 + kBlock);
  int64_t last = -1;
  for (int64_t v = v0; v < v1; ++v) {
    if (w[v] <= 0.0f) continue;
    cum += w[v];
    last = v;
    if (cum > target) return static_cast<int32_t>(v);
  }
  return static_cast<int32_t>(last);
}

// log softmax(z)[tok] in float64 sums.
float token_logprob(const float* z, int64_t V, int32_t tok) {
  float m = kNegInf;
#pragma omp simd reduction(max : m)
  for (int64_t v = 0; v < V; ++v) m = std::max(m, z[v]);
  double s = 0.0;
  for (int64_t v0 = 0; v0 < V; v0 += kBlock) {
    const int64_t v1 = std::min(V, v0 + kBlock);
    float cs = 0.0f;
#pragma omp simd reduction(+ : cs)
    for (int64_t v = v0; v < v1; ++v) cs += exp_approx(z[v] - m);
    s += cs;
  }
  return static_cast<float>(static_cast<double>(z[tok]) - (static_cast<double>(m) + std::log(s)));
}

inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline int thread_num() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace

// ---- the cache --------------------------------------------------------------------------------------

Status neox_cache_create(const Neox* model, int64_t B, int64_t max_len, NeoxCache** out) {
  RL_CHECK_ARG(out != nullptr, "Expected a pointer for out but received null");
  *out = nullptr;
  RL_CHECK_ARG(model != nullptr, "Expected a model for model but received null");
  RL_CHECK_ARG(B >= 1 && B <= (int64_t{1} << 30), "Expected integer between 1 and 1073741824 for B but received " + str(B));
  RL_CHECK_ARG(max_len >= 1 && max_len <= (int64_t{1} << 30),
               "Expected integer between 1 and 1073741824 for maxLength but received " + str(max_len));
  NeoxCache* c = new (std::nothrow) NeoxCache();
  if (c == nullptr) return Status::OutOfMemory("out of memory creating a KV cache");
  c->L = model->cfg.num_layers;
  c->NH = model->cfg.num_heads;
  c->HD = model->HD;
  Status s = Status::Ok();
  try {
    s = cache_configure(c, B, max_len);
  } catch (const std::bad_alloc&) {
    s = Status::OutOfMemory("out of memory allocating a KV cache mask for " + str(B) + " rows of " + str(max_len) + " tokens");
  }
  if (!s.ok()) {
    delete c;
    return s;
  }
  *out = c;
  return Status::Ok();
}

void neox_cache_destroy(NeoxCache* cache) { delete cache; }
int64_t neox_cache_rows(const NeoxCache* cache) { return cache->B; }
int64_t neox_cache_capacity(const NeoxCache* cache) { return cache->max_len; }
int64_t neox_cache_length(const NeoxCache* cache) { return cache->len; }

void neox_cache_reset(NeoxCache* cache) {
  cache->len = 0;
  std::fill(cache->mask.begin(), cache->mask.end(), 0);
  std::fill(cache->next_pos.begin(), cache->next_pos.end(), 0);
}

size_t neox_cache_memory_bytes(const NeoxCache* cache) {
  if (cache == nullptr) return 0;
  return cache->kv.n * sizeof(float) + cache->mask.capacity() + cache->next_pos.capacity() * sizeof(int32_t);
}

// ---- the incremental forward ----------------------------------------------------------------------

Status neox_forward_cached(Neox* m, NeoxCache* cache, const NeoxBatch& chunk, float* logits, bool all_positions) {
  RL_RETURN_IF_ERROR(check_cache(m, cache));
  RL_CHECK_ARG(chunk.B == cache->B, "Expected B = " + str(cache->B) + " (the cache's rows) for B but received " + str(chunk.B));
  RL_CHECK_ARG(chunk.T >= 1 && chunk.T <= cache->max_len - cache->len,
               "Expected integer between 1 and " + str(cache->max_len - cache->len) + " (the cache holds " + str(cache->len) +
                   " of " + str(cache->max_len) + " columns) for T but received " + str(chunk.T));
  RL_RETURN_IF_ERROR(check_tokens(m, chunk, ""));
  const int64_t BT = chunk.B * chunk.T;
  try {
    std::vector<int32_t> pos(static_cast<size_t>(BT));
    std::vector<int32_t> next = cache->next_pos;  // restored if the forward fails
    chunk_positions(cache, chunk.attention_mask, chunk.position_ids, nullptr, chunk.B, chunk.T, pos.data());
    Status s = step_forward(m, cache, chunk.input_ids, chunk.attention_mask, pos.data(), nullptr, chunk.B, chunk.T, logits,
                            all_positions);
    if (!s.ok()) {
      cache->next_pos = next;
      return s;
    }
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory in an incremental forward");
  }
  cache->len += chunk.T;
  return Status::Ok();
}

// ---- generate ---------------------------------------------------------------------------------------

namespace {

Status check_generate(const Neox* m, const NeoxBatch& b, const NeoxGenerateOptions& o, const NeoxGenerateOutput& out) {
  const int64_t V = m->cfg.vocab_size;
  RL_CHECK_ARG(b.B >= 1 && b.B <= (int64_t{1} << 30), "Expected integer between 1 and 1073741824 for B but received " + str(b.B));
  RL_CHECK_ARG(b.T >= 1 && b.T <= (int64_t{1} << 30), "Expected integer between 1 and 1073741824 for T but received " + str(b.T));
  RL_CHECK_ARG(b.B * b.T <= (int64_t{1} << 31), "Expected B·T <= 2147483648 for inputIds but received " + str(b.B * b.T));
  RL_RETURN_IF_ERROR(check_tokens(m, b, "prompts."));
  RL_CHECK_ARG(o.max_new_tokens >= 1 && o.max_new_tokens <= (int64_t{1} << 24),
               "Expected integer between 1 and 16777216 for maxNewTokens but received " + str(o.max_new_tokens));
  RL_CHECK_ARG(b.B * o.max_new_tokens <= (int64_t{1} << 31),
               "Expected B·maxNewTokens <= 2147483648 for maxNewTokens but received " + str(b.B * o.max_new_tokens));
  RL_CHECK_ARG(o.min_new_tokens >= 0 && o.min_new_tokens <= o.max_new_tokens,
               "Expected integer between 0 and " + str(o.max_new_tokens) + " for minNewTokens but received " + str(o.min_new_tokens));
  if (o.row_max_new_tokens != nullptr) {
    for (int64_t r = 0; r < b.B; ++r) {
      const int32_t n = o.row_max_new_tokens[r];
      RL_CHECK_ARG(n >= 1 && n <= o.max_new_tokens, "Expected integers in [1, " + str(o.max_new_tokens) +
                                                        "] for maxNewTokensPerRow but received " + str(n) + " at index " + str(r));
    }
  }
  RL_CHECK_ARG(o.greedy || (std::isfinite(o.temperature) && o.temperature > 0.0f),
               "Expected finite number > 0 for temperature (greedy: true for argmax) but received " + std::to_string(o.temperature));
  RL_CHECK_ARG(o.top_k >= 0 && o.top_k <= V, "Expected integer between 0 and " + str(V) + " for topK but received " + str(o.top_k));
  RL_CHECK_ARG(o.top_p > 0.0f && o.top_p <= 1.0f, "Expected number in (0, 1] for topP but received " + std::to_string(o.top_p));
  RL_CHECK_ARG(o.eos_token_id >= -1 && o.eos_token_id < V,
               "Expected integer in [0, " + str(V) + ") or none (−1) for eosTokenId but received " + str(o.eos_token_id));
  RL_CHECK_ARG(o.eos_token_id < 0 || o.min_new_tokens == 0 || V >= 2,
               "Expected a vocabulary of at least 2 tokens (EOS is suppressed before minNewTokens) for minNewTokens but received 1 token");
  RL_CHECK_ARG(o.pad_token_id >= 0 && o.pad_token_id < V,
               "Expected integer in [0, " + str(V) + ") for padTokenId but received " + str(o.pad_token_id));
  RL_CHECK_ARG(out.tokens != nullptr && out.lengths != nullptr,
               "Expected output buffers for tokens and lengths but received null");
  // left padding: the last column of every row is a real token
  for (int64_t r = 0; r < b.B; ++r) {
    const int64_t i = r * b.T + b.T - 1;
    RL_CHECK_ARG(b.attention_mask == nullptr || b.attention_mask[i] == 1,
                 "Expected left-padded prompts (attentionMask 1 in the last column of every row) for prompts.attentionMask "
                 "but received 0 in row " + str(r));
    if (b.position_ids != nullptr) {
      RL_CHECK_ARG(static_cast<int64_t>(b.position_ids[i]) + o.max_new_tokens <= std::numeric_limits<int32_t>::max(),
                   "Expected positions below 2^31 − maxNewTokens for prompts.positionIds but received " +
                       str(b.position_ids[i]) + " in row " + str(r));
    }
    if (m->cfg.arch == NeoxArch::kGptNeo) {
      // the last token fed to the model (the last new one is only sampled) sits at the row's last
      // prompt position + maxNewTokens − 1; GPT-Neo's wpe must have a row for it
      int64_t last = 0;
      if (b.position_ids != nullptr) {
        last = b.position_ids[i];
      } else {
        for (int64_t t = 0; t < b.T; ++t) last += b.attention_mask == nullptr || b.attention_mask[r * b.T + t] != 0 ? 1 : 0;
        last -= 1;
      }
      RL_CHECK_ARG(last + o.max_new_tokens - 1 < m->cfg.max_positions,
                   "Expected prompt positions + maxNewTokens within maxPositions " + str(m->cfg.max_positions) +
                       " for maxNewTokens but received " + str(o.max_new_tokens) + " after position " + str(last) +
                       " in row " + str(r));
    }
  }
  return Status::Ok();
}

}  // namespace

Status neox_generate(Neox* m, const NeoxBatch& prompts, const NeoxGenerateOptions& o, const NeoxGenerateOutput& out) {
  RL_RETURN_IF_ERROR(check_generate(m, prompts, o, out));
  const int64_t B = prompts.B, T = prompts.T, V = m->cfg.vocab_size, S = o.max_new_tokens;
  try {
    // the cache: the prompt and every new token but the last, which no later token reads
    if (m->gen_cache == nullptr) RL_RETURN_IF_ERROR(neox_cache_create(m, B, T + S - 1, &m->gen_cache));
    NeoxCache* c = m->gen_cache;
    RL_RETURN_IF_ERROR(cache_configure(c, B, T + S - 1));
    if (!m->head_logits.reserve(static_cast<size_t>(B * V))) {
      return Status::OutOfMemory("out of memory allocating " + str(B) + "x" + str(V) + " logits");
    }
    const int nthreads = max_threads();
    const int64_t wlen = V + (V + kBlock - 1) / kBlock + 16;
    if (!m->sample_buf.reserve(static_cast<size_t>(nthreads * wlen))) return Status::OutOfMemory("out of memory allocating sampling scratch");
    m->sample_keys.resize(static_cast<size_t>(nthreads * V));
    m->sample_mass.resize(static_cast<size_t>(nthreads) << kBucketBits);
    m->step_pos.resize(static_cast<size_t>(B));
    m->step_rows.resize(static_cast<size_t>(B));
    m->step_ids.resize(static_cast<size_t>(B));

    // the prompts, in chunks of columns of at most ~1024 rows; logits of the last column
    const int64_t cols = std::max<int64_t>(1, std::min<int64_t>(T, 1024 / B));
    std::vector<int32_t> ids, pos;
    std::vector<uint8_t> mk;
    for (int64_t t0 = 0; t0 < T; t0 += cols) {
      const int64_t tn = std::min(cols, T - t0);
      ids.resize(static_cast<size_t>(B * tn));
      pos.resize(static_cast<size_t>(B * tn));
      mk.resize(static_cast<size_t>(B * tn));
      std::vector<int32_t> given;
      for (int64_t r = 0; r < B; ++r) {
        for (int64_t t = 0; t < tn; ++t) {
          const int64_t src = r * T + t0 + t, dst = r * tn + t;
          ids[static_cast<size_t>(dst)] = prompts.input_ids[src];
          mk[static_cast<size_t>(dst)] = prompts.attention_mask == nullptr ? 1 : prompts.attention_mask[src];
          if (prompts.position_ids != nullptr) {
            given.resize(static_cast<size_t>(B * tn));
            given[static_cast<size_t>(dst)] = prompts.position_ids[src];
          }
        }
      }
      chunk_positions(c, mk.data(), prompts.position_ids != nullptr ? given.data() : nullptr, nullptr, B, tn, pos.data());
      const bool last = t0 + tn == T;
      RL_RETURN_IF_ERROR(step_forward(m, c, ids.data(), mk.data(), pos.data(), nullptr, B, tn,
                                      last ? m->head_logits.p : nullptr, false));
      c->len += tn;
    }

    // then one token per step for the rows still going
    SampleParams sp;
    sp.V = V;
    sp.inv_temp = o.greedy ? 1.0f : 1.0f / o.temperature;
    sp.top_k = o.top_k;
    sp.top_p = o.top_p;
    sp.greedy = o.greedy;
    std::fill(out.tokens, out.tokens + B * S, o.pad_token_id);
    if (out.logprobs != nullptr) std::fill(out.logprobs, out.logprobs + B * S, 0.0f);
    std::fill(out.lengths, out.lengths + B, 0);
    int64_t* active = m->step_rows.data();  // the cache rows of the logits' rows
    int64_t na = B;
    for (int64_t r = 0; r < B; ++r) active[r] = r;
    for (int64_t s = 0;; ++s) {
      // sample every active row (row i of the logits is cache row active[i])
#pragma omp parallel for schedule(dynamic, 1) num_threads(na * V >= 32768 ? nthreads : 1)
      for (int64_t i = 0; i < na; ++i) {
        const int64_t b = active[i];
        const float* z = m->head_logits.p + i * V;
        const int64_t row_min = std::min<int64_t>(o.min_new_tokens,
                                                  o.row_max_new_tokens != nullptr ? o.row_max_new_tokens[b] : S);
        const int64_t eos = o.eos_token_id >= 0 && s < row_min ? o.eos_token_id : -1;
        const int tid = thread_num();
        const int32_t tok = sample_row(z, sp, eos, o.greedy ? 0.0 : uniform(o.seed, b, s), m->sample_buf.p + tid * wlen,
                                       m->sample_keys.data() + static_cast<size_t>(tid) * V,
                                       m->sample_mass.data() + (static_cast<size_t>(tid) << kBucketBits));
        out.tokens[b * S + s] = tok;
        if (out.logprobs != nullptr) out.logprobs[b * S + s] = token_logprob(z, V, tok);
        out.lengths[b] = static_cast<int32_t>(s + 1);
      }
      // rows that emitted EOS or reached their maximum stop
      int64_t keep = 0;
      for (int64_t i = 0; i < na; ++i) {
        const int64_t b = active[i];
        const int32_t tok = out.tokens[b * S + s];
        const int64_t row_max = o.row_max_new_tokens != nullptr ? o.row_max_new_tokens[b] : S;
        if ((o.eos_token_id >= 0 && tok == o.eos_token_id) || s + 1 >= row_max) continue;
        m->step_ids[static_cast<size_t>(keep)] = tok;
        active[keep++] = b;
      }
      na = keep;
      if (na == 0 || s + 1 >= S) break;
      // the next column: the sampled tokens of the rows still going (the others' column stays masked)
      for (int64_t r = 0; r < B; ++r) c->mask[static_cast<size_t>(r * c->max_len + c->len)] = 0;
      chunk_positions(c, nullptr, nullptr, active, na, 1, m->step_pos.data());
      RL_RETURN_IF_ERROR(step_forward(m, c, m->step_ids.data(), nullptr, m->step_pos.data(), active, na, 1,
                                      m->head_logits.p, false));
      c->len += 1;
    }
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory in generate");
  }
  return Status::Ok();
}

}  // namespace rl
