// The sparse autoencoder on the CPU: kernels (one function per op, forward and backward side by
// side, in the style of karpathy/llm.c), the initialisers, and the handle that strings them into
// a training step. Shapes: B rows in a batch, d = d_in, n = d_sae. Every matrix is row-major.
//
// A training step is five GEMMs and four elementwise passes:
//   GEMM  pre  = x' · W_enc                 [B,n]       (tied: W_enc = Wnᵀ)
//   pass  c    = ReLU(pre + b_enc)          in place; l1, l0, which features fired
//   GEMM  x̂    = c · Wn                     [B,d]
//   pass  x̂   += b_dec; dx̂ = 2(x̂ − x)/(Bv·d); mse, nmse; db_dec = Σ dx̂
//   GEMM  dc   = dx̂ · Wnᵀ                   [B,n]
//   pass  dpre = 1[c>0] · (dc + λ/Bv)      in place; db_enc = Σ dpre
//   GEMM  dWn  = cᵀ·dx̂ + dpreᵀ·x'           [n,d]  (tied: one GEMM over the stacked [c;dpre], [dx̂;x'];
//                                                    untied: dWn = cᵀ·dx̂ and dW_enc = x'ᵀ·dpre)
//   pass  per dictionary row: normalisation backward, Adam, and the next step's normalisation
// Masked rows are computed in the forward pass but get dx̂ = dpre = 0, so they add nothing to any
// gradient, and they are left out of every metric.
#include "rewardlens/sae.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rewardlens/gemm.h"
#include "parallel.h"

namespace rl {

namespace {

inline bool row_valid(const uint8_t* mask, int64_t b) { return mask == nullptr || mask[b] != 0; }

// The index of the first non-finite entry of x (count), or −1. One vectorised pass sums x·0,
// which is NaN exactly when some entry is ±inf or NaN; only then is the index searched for.
int64_t first_non_finite(const float* x, int64_t count) {
  float probe = 0.0f;
#pragma omp parallel for simd schedule(static) num_threads(threads_for(count)) reduction(+ : probe)
  for (int64_t i = 0; i < count; ++i) probe += x[i] * 0.0f;
  if (probe == 0.0f) return -1;
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(x[i])) return i;
  return -1;
}

// The TypeScript layer's message for a non-finite input (src/validate.ts checkFinite).
Status non_finite_error(const char* name, float value, int64_t index) {
  const char* text = std::isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity");
  return Status::Invalid(std::string("Expected finite values in ") + name + " for " + name + " but received " +
                         text + " at index " + std::to_string(index));
}

// ------------------------------------------------------------------------------------------------
// Kernels

// Row normalisation: Wn_i = W_i / ‖W_i‖ (the norm clamped at 1e-12, as F.normalize). A division,
// not a multiply by 1/‖W_i‖, as PyTorch: a one-element row then normalises to exactly ±1.
// Wn is (n,d), norm is (n), W is (n,d).
void normalize_rows_forward(float* Wn, float* norm, const float* W, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) num_threads(threads_for(n * d))
  for (int64_t i = 0; i < n; ++i) {
    const float* w = W + i * d;
    float* wn = Wn + i * d;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t k = 0; k < d; ++k) ss += w[k] * w[k];
    const float r = std::max(std::sqrt(ss), 1e-12f);
    norm[i] = r;
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) wn[k] = w[k] / r;
  }
}

// Backward of Wn_i = W_i / r_i (r_i = ‖W_i‖), for one row:
// dW_i = (dWn_i − Wn_i·(Wn_i·dWn_i)) / r_i. dw may alias dwn. dw, dwn, wn are (d).
inline void normalize_row_backward(float* dw, const float* dwn, const float* wn, float r, int64_t d) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t k = 0; k < d; ++k) dot += wn[k] * dwn[k];
#pragma omp simd
  for (int64_t k = 0; k < d; ++k) dw[k] = (dwn[k] - wn[k] * dot) / r;
}

// dW is (n,d) (may alias dWn), dWn is (n,d), Wn is (n,d), norm is (n).
void normalize_rows_backward(float* dW, const float* dWn, const float* Wn, const float* norm,
                             int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) num_threads(threads_for(n * d))
  for (int64_t i = 0; i < n; ++i) normalize_row_backward(dW + i * d, dWn + i * d, Wn + i * d, norm[i], d);
}

// Input offset: x' = x − b_dec. xin is (B,d), x is (B,d), b_dec is (d).
void input_forward(float* xin, const float* x, const float* b_dec, int64_t B, int64_t d) {
#pragma omp parallel for schedule(static) num_threads(threads_for(B * d))
  for (int64_t b = 0; b < B; ++b) {
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) xin[b * d + k] = x[b * d + k] - b_dec[k];
  }
}
// (Its backward, db_dec −= Σ_b dpre_b W_encᵀ, is one GEMM in sae_run.)

struct EncoderStats {
  double l1 = 0;  // Σ_valid Σ_j c_bj
  double l0 = 0;  // Σ_valid #{j : c_bj > 0}
};

// c = ReLU(pre + b_enc), in place. Over valid rows: the L1 and L0 sums, and (when colsum is given)
// colsum_j = Σ_b c_bj, so colsum_j > 0 exactly when feature j fired on a valid row (c ≥ 0).
// c is (B,n), holding pre on entry; b_enc is (n); mask is (B) or null; colsum is (n) or null.
void bias_relu_forward(float* c, const float* b_enc, const uint8_t* mask, int64_t B, int64_t n,
                       float* colsum, EncoderStats* stats) {
  double l1 = 0.0, l0 = 0.0;
#pragma omp parallel num_threads(threads_for(B * n)) reduction(+ : l1, l0)
  {
    int64_t j0, j1;
    column_block(n, thread_id(), thread_count(), &j0, &j1);
    if (colsum != nullptr) std::fill(colsum + j0, colsum + j1, 0.0f);
    for (int64_t b = 0; b < B && j0 < j1; ++b) {
      float* row = c + b * n;
      if (!row_valid(mask, b)) {
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) row[j] = std::max(row[j] + b_enc[j], 0.0f);
        continue;
      }
      float s = 0.0f, cnt = 0.0f;  // a float count is exact up to 2^24 features
      if (colsum != nullptr) {
#pragma omp simd reduction(+ : s, cnt)
        for (int64_t j = j0; j < j1; ++j) {
          const float v = std::max(row[j] + b_enc[j], 0.0f);
          row[j] = v;
          s += v;
          cnt += v > 0.0f ? 1.0f : 0.0f;
          colsum[j] += v;
        }
      } else {
#pragma omp simd reduction(+ : s, cnt)
        for (int64_t j = j0; j < j1; ++j) {
          const float v = std::max(row[j] + b_enc[j], 0.0f);
          row[j] = v;
          s += v;
          cnt += v > 0.0f ? 1.0f : 0.0f;
        }
      }
      l1 += s;
      l0 += cnt;
    }
  }
  if (stats != nullptr) {
    stats->l1 = l1;
    stats->l0 = l0;
  }
}

// Backward of c = ReLU(pre + b_enc) with the L1 penalty λ·Σ|c|/Bv added:
// dpre_bj = 1[c_bj > 0]·(dc_bj + l1_grad) on valid rows (l1_grad = λ/Bv), 0 on masked rows;
// db_enc_j = Σ_b dpre_bj. dpre is (B,n) (may alias dc), db_enc is (n), dc is (B,n), c is (B,n).
void bias_relu_backward(float* dpre, float* db_enc, const float* dc, const float* c, const uint8_t* mask,
                        int64_t B, int64_t n, float l1_grad) {
#pragma omp parallel num_threads(threads_for(B * n))
  {
    int64_t j0, j1;
    column_block(n, thread_id(), thread_count(), &j0, &j1);
    std::fill(db_enc + j0, db_enc + j1, 0.0f);
    for (int64_t b = 0; b < B && j0 < j1; ++b) {
      float* dp = dpre + b * n;
      if (!row_valid(mask, b)) {
        std::fill(dp + j0, dp + j1, 0.0f);
        continue;
      }
      const float* dcr = dc + b * n;
      const float* cr = c + b * n;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const float g = cr[j] > 0.0f ? dcr[j] + l1_grad : 0.0f;
        dp[j] = g;
        db_enc[j] += g;
      }
    }
  }
}

struct DecoderStats {
  double sse = 0;  // Σ_valid ‖x̂_b − x_b‖²
  double sxx = 0;  // Σ_valid ‖x_b‖²
};

// Forward: x̂ += b_dec, and the squared error over valid rows. Backward of mse = sse/(Bv·d), when
// dxhat is given: dx̂ = scale·(x̂ − x) (scale = 2/(Bv·d)) on valid rows, 0 on masked rows, and
// db_dec = Σ_b dx̂. Also copies x into xcopy when given (the stacked operand of the tied dW GEMM).
// xhat is (B,d) holding c·Wn on entry; dxhat is (B,d) or null (may alias xhat); db_dec is (d);
// xcopy is (B,d) or null; x is (B,d); b_dec is (d); mask is (B) or null.
void decoder_bias_mse(float* xhat, float* dxhat, float* db_dec, float* xcopy, const float* x,
                      const float* b_dec, const uint8_t* mask, int64_t B, int64_t d, float scale,
                      DecoderStats* stats) {
  double sse = 0.0, sxx = 0.0;
#pragma omp parallel num_threads(threads_for(B * d)) reduction(+ : sse, sxx)
  {
    int64_t k0, k1;
    column_block(d, thread_id(), thread_count(), &k0, &k1);
    if (dxhat != nullptr) std::fill(db_dec + k0, db_dec + k1, 0.0f);
    for (int64_t b = 0; b < B && k0 < k1; ++b) {
      float* xh = xhat + b * d;
      const float* xr = x + b * d;
      if (xcopy != nullptr) std::memcpy(xcopy + b * d + k0, xr + k0, sizeof(float) * (k1 - k0));
      const bool valid = row_valid(mask, b);
      float se = 0.0f, xx = 0.0f;
      if (dxhat != nullptr) {
        float* dx = dxhat + b * d;
        const float s = valid ? scale : 0.0f;
#pragma omp simd reduction(+ : se, xx)
        for (int64_t k = k0; k < k1; ++k) {
          const float e = xh[k] + b_dec[k] - xr[k];
          se += e * e;
          xx += xr[k] * xr[k];
          dx[k] = s * e;
          db_dec[k] += s * e;
        }
      } else {
#pragma omp simd reduction(+ : se, xx)
        for (int64_t k = k0; k < k1; ++k) {
          const float v = xh[k] + b_dec[k];
          xh[k] = v;
          const float e = v - xr[k];
          se += e * e;
          xx += xr[k] * xr[k];
        }
      }
      if (valid) {
        sse += se;
        sxx += xx;
      }
    }
  }
  stats->sse = sse;
  stats->sxx = sxx;
}

// Adam (PyTorch semantics): m ← m + (1−β1)(g − m); v ← β2 v + (1−β2) g²;
// p ← p − (lr/bc1) · m / (√v/√bc2 + eps), bc_i = 1 − β_i^t.
struct AdamScalars {
  float beta1, beta2, step_size, sqrt_bc2, eps;
};

AdamScalars adam_scalars(const SaeConfig& cfg, int64_t t) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(cfg.adam_beta1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(cfg.adam_beta2), static_cast<double>(t));
  return {cfg.adam_beta1, cfg.adam_beta2, static_cast<float>(cfg.lr / bc1),
          static_cast<float>(std::sqrt(bc2)), cfg.adam_eps};
}

inline void adam_element(float& p, float& m, float& v, float g, const AdamScalars& a) {
  m += (1.0f - a.beta1) * (g - m);
  v = a.beta2 * v + (1.0f - a.beta2) * g * g;
  p -= a.step_size * m / (std::sqrt(v) / a.sqrt_bc2 + a.eps);
}

// params, m, v are (P) updated in place; grads is (P).
void adam_update(float* params, float* m, float* v, const float* grads, int64_t P, const AdamScalars& a) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(P))
  for (int64_t i = 0; i < P; ++i) adam_element(params[i], m[i], v[i], grads[i], a);
}

// The dictionary's update, fused into one pass over its rows: for each row i, the normalisation
// backward (dW_i from dWn_i), Adam on W_i, then Wn_i and norm_i for the next forward pass.
// W, m, v, Wn are (n,d) updated in place; norm is (n) updated in place; dWn is (n,d), consumed.
void dictionary_adam_renormalize(float* W, float* m, float* v, float* Wn, float* norm, float* dWn,
                                 int64_t n, int64_t d, const AdamScalars& a) {
#pragma omp parallel for schedule(static) num_threads(threads_for(n * d))
  for (int64_t i = 0; i < n; ++i) {
    float* w = W + i * d;
    float* mi = m + i * d;
    float* vi = v + i * d;
    float* wn = Wn + i * d;
    float* g = dWn + i * d;
    normalize_row_backward(g, g, wn, norm[i], d);
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t k = 0; k < d; ++k) {
      adam_element(w[k], mi[k], vi[k], g[k], a);
      ss += w[k] * w[k];
    }
    const float r = std::max(std::sqrt(ss), 1e-12f);
    norm[i] = r;
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) wn[k] = w[k] / r;
  }
}

// out is (d,n) = inᵀ for in (n,d).
void transpose(float* out, const float* in, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) num_threads(threads_for(n * d))
  for (int64_t k = 0; k < d; ++k)
    for (int64_t i = 0; i < n; ++i) out[k * n + i] = in[i * d + k];
}

// ------------------------------------------------------------------------------------------------
// Initialisation: a seeded xoshiro256** stream (seeded through splitmix64), Box–Muller normals.

constexpr double kTwoPi = 6.283185307179586476925286766559;

struct Rng {
  uint64_t s[4];
  explicit Rng(uint64_t seed) {
    for (auto& w : s) {  // splitmix64
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  void normals(double* out, int64_t count) {
    for (int64_t i = 0; i < count; i += 2) {
      const double u1 = 1.0 - uniform();  // (0, 1]
      const double u2 = uniform();
      const double rad = std::sqrt(-2.0 * std::log(u1));
      out[i] = rad * std::cos(kTwoPi * u2);
      if (i + 1 < count) out[i + 1] = rad * std::sin(kTwoPi * u2);
    }
  }
};

// q_b −= (q_a·q_b) q_a for unit q_a; qa, qb are (m). The dot product keeps 32 partial sums so
// that it is not bound by the latency of one accumulator.
inline void project_out(double* qb, const double* qa, int64_t m) {
  double part[32] = {};
  int64_t i = 0;
  for (; i + 32 <= m; i += 32) {
#pragma omp simd
    for (int64_t l = 0; l < 32; ++l) part[l] += qa[i + l] * qb[i + l];
  }
  for (int64_t l = 0; i < m; ++i, ++l) part[l] += qa[i] * qb[i];
  double dot = 0.0;
  for (int64_t l = 0; l < 32; ++l) dot += part[l];
#pragma omp simd
  for (int64_t j = 0; j < m; ++j) qb[j] -= dot * qa[j];
}

// As torch.nn.init.orthogonal_ on W (n,d): the Q factor (with R's diagonal made positive) of a
// Gaussian matrix, in float64 by modified Gram–Schmidt. With m = max(n,d), k = min(n,d): k Gaussian
// vectors of length m are orthonormalised; they are W's rows when n ≤ d, its columns when n > d.
// The MGS is blocked by panels of vectors so that each later vector is read once per panel rather
// than once per vector; every vector still sees the projections in MGS order (same arithmetic).
void init_orthogonal(float* W, int64_t n, int64_t d, Rng& rng) {
  const int64_t m = std::max(n, d), k = std::min(n, d);
  constexpr int64_t kPanel = 16;
  std::vector<double> q(static_cast<size_t>(m * k));  // k vectors of length m
  rng.normals(q.data(), m * k);
  for (int64_t p0 = 0; p0 < k; p0 += kPanel) {
    const int64_t p1 = std::min(k, p0 + kPanel);
    for (int64_t a = p0; a < p1; ++a) {  // finish the panel
      double* qa = q.data() + a * m;
      double ss = 0.0;
      for (int64_t i = 0; i < m; ++i) ss += qa[i] * qa[i];
      const double r = 1.0 / std::sqrt(ss);
      for (int64_t i = 0; i < m; ++i) qa[i] *= r;
      for (int64_t b = a + 1; b < p1; ++b) project_out(q.data() + b * m, qa, m);
    }
#pragma omp parallel for schedule(static) num_threads(threads_for((k - p1) * m * (p1 - p0)))
    for (int64_t b = p1; b < k; ++b)  // and project it out of every later vector
      for (int64_t a = p0; a < p1; ++a) project_out(q.data() + b * m, q.data() + a * m, m);
  }
  if (n <= d) {  // rows: W[i][j] = q_i[j]
    for (int64_t i = 0; i < n * d; ++i) W[i] = static_cast<float>(q[i]);
  } else {  // columns: W[i][j] = q_j[i]
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) W[i * d + j] = static_cast<float>(q[j * m + i]);
  }
}

// kaiming_uniform_ with the ReLU gain √2 and fan_in = d: W ~ U(−√(6/d), √(6/d)).
void init_kaiming(float* W, int64_t n, int64_t d, Rng& rng) {
  const double bound = std::sqrt(6.0 / static_cast<double>(d));
  for (int64_t i = 0; i < n * d; ++i) W[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// The handle

struct Sae {
  SaeConfig cfg;
  int64_t n = 0, d = 0;
  int64_t t = 0;  // Adam updates so far

  // Parameters, gradients and both Adam moments: one allocation each, the same layout
  // [W (n·d) | W_enc (d·n, untied only) | b_enc (n) | b_dec (d)], with named views.
  int64_t P = 0;
  std::vector<float> params, grads, m, v;
  float *W = nullptr, *W_enc = nullptr, *b_enc = nullptr, *b_dec = nullptr;
  float *gW = nullptr, *gW_enc = nullptr, *gb_enc = nullptr, *gb_dec = nullptr;

  // Normalised dictionary (normalize_decoder only; else Wn aliases W), valid between steps.
  std::vector<float> Wn_store, row_norm;
  float* Wn = nullptr;
  bool wn_valid = false;

  // Dead-feature tracking: the step at which each feature last fired on a valid row.
  std::vector<int64_t> last_fired;
  std::vector<float> colsum;  // Σ_valid c per feature in the current step

  // Scratch, grown on demand and reused: ccat = [c ; dpre] (2B,n), ycat = [x̂ or dx̂ ; x'] (2B,d).
  std::vector<float> ccat, ycat;

  void bind_views() {
    const int64_t nd = n * d;
    float* p = params.data();
    float* g = grads.data();
    W = p;
    gW = g;
    int64_t off = nd;
    if (!cfg.tied) {
      W_enc = p + off;
      gW_enc = g + off;
      off += nd;
    } else {
      W_enc = gW_enc = nullptr;
    }
    b_enc = p + off;
    gb_enc = g + off;
    off += n;
    b_dec = p + off;
    gb_dec = g + off;
    Wn = cfg.normalize_decoder ? Wn_store.data() : W;
  }

  void ensure_wn() {
    if (cfg.normalize_decoder && !wn_valid) normalize_rows_forward(Wn, row_norm.data(), W, n, d);
    wn_valid = true;
  }

  int64_t dead_count() const {
    int64_t dead = 0;
    for (int64_t j = 0; j < n; ++j) dead += (t - last_fired[j] >= cfg.dead_window) ? 1 : 0;
    return dead;
  }
};

namespace {

template <typename F>
Status guarded(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("rewardlens SAE: out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("rewardlens SAE: ") + e.what());
  }
}

template <typename T>
void grow(std::vector<T>& buf, int64_t size) {
  if (static_cast<int64_t>(buf.size()) < size) {
    buf.clear();
    buf.shrink_to_fit();
    buf.resize(static_cast<size_t>(size));
  }
}

Status check_rows(const Sae* s, const float* x, int64_t rows) {
  if (s == nullptr) return Status::Invalid("Expected an SAE handle for sae but received null");
  if (x == nullptr) return Status::Invalid("Expected a float array for x but received null");
  // Every GEMM dimension (up to 2·rows for the stacked tied GEMM) must fit a 32-bit BLAS int.
  if (rows < 1 || rows > std::numeric_limits<int32_t>::max() / 2)
    return Status::Invalid("Expected between 1 and 1073741823 rows for x but received " + std::to_string(rows));
  return Status::Ok();
}

enum class Mode { kForward, kGrad, kStep };

// The forward pass, and for kGrad / kStep the backward pass into s->grads, and for kStep the
// Adam update. x_hat / c are the caller's outputs for kForward (else scratch is used).
Status sae_run(Sae* s, const float* x, const uint8_t* mask, int64_t B, Mode mode, float* x_hat_out,
               float* c_out, SaeMetrics* metrics) {
  RL_RETURN_IF_ERROR(check_rows(s, x, B));
  const int64_t n = s->n, d = s->d;
  const SaeConfig& cfg = s->cfg;
  int64_t Bv = B;
  if (mask != nullptr) {
    Bv = 0;
    for (int64_t b = 0; b < B; ++b) Bv += mask[b] != 0;
  }
  if (Bv == 0) return Status::Invalid("Expected at least one non-zero entry for mask but received all zeros");
  // The documented contract: x is NaN-free (every row, masked or not, since 0·inf is NaN in a GEMM).
  if (const int64_t bad = first_non_finite(x, B * s->d); bad >= 0) return non_finite_error("x", x[bad], bad);

  const bool backward = mode != Mode::kForward;
  if (backward || cfg.apply_b_dec_to_input) grow(s->ycat, 2 * B * d);
  if (backward) grow(s->ccat, 2 * B * n);
  s->ensure_wn();
  const float* Wn = s->Wn;

  // Buffers: tied backward stacks c over dpre and dx̂ over x' for one dW GEMM with depth 2B.
  float* c = backward ? s->ccat.data() : c_out;                 // (B,n)
  float* dpre = backward ? s->ccat.data() + B * n : nullptr;    // (B,n)
  float* xhat = backward ? s->ycat.data() : x_hat_out;          // (B,d), becomes dx̂ when backward
  float* xin_buf = cfg.apply_b_dec_to_input || (backward && cfg.tied) ? s->ycat.data() + B * d : nullptr;
  const float* xin = x;                                         // (B,d) x' fed to the encoder
  if (cfg.apply_b_dec_to_input) {
    input_forward(xin_buf, x, s->b_dec, B, d);
    xin = xin_buf;
  }

  // pre = x' · W_enc, then c = ReLU(pre + b_enc)
  if (cfg.tied) {
    sgemm(false, true, B, n, d, 1.0f, xin, d, Wn, d, 0.0f, c, n);
  } else {
    sgemm(false, false, B, n, d, 1.0f, xin, d, s->W_enc, n, 0.0f, c, n);
  }
  EncoderStats enc;
  float* colsum = mode == Mode::kStep ? s->colsum.data() : nullptr;
  bias_relu_forward(c, s->b_enc, mask, B, n, colsum, &enc);

  // x̂ = c · Wn + b_dec, the squared error, and (backward) dx̂, db_dec and the stacked copy of x
  sgemm(false, false, B, d, n, 1.0f, c, n, Wn, d, 0.0f, xhat, d);
  DecoderStats dec;
  const double denom = static_cast<double>(Bv) * static_cast<double>(d);
  float* xcopy = backward && cfg.tied && !cfg.apply_b_dec_to_input ? xin_buf : nullptr;
  decoder_bias_mse(xhat, backward ? xhat : nullptr, s->gb_dec, xcopy, x, s->b_dec, mask, B, d,
                   static_cast<float>(2.0 / denom), &dec);

  const double mse = dec.sse / denom;
  const double l1 = enc.l1 / static_cast<double>(Bv);
  metrics->mse = mse;
  metrics->l1 = l1;
  metrics->loss = mse + static_cast<double>(cfg.l1_coefficient) * l1;
  metrics->nmse = dec.sxx > 0 ? dec.sse / dec.sxx : (dec.sse > 0 ? HUGE_VAL : 0.0);
  metrics->l0 = enc.l0 / static_cast<double>(Bv);
  if (!backward) {
    metrics->step = s->t;
    metrics->dead = s->dead_count();
    return Status::Ok();
  }

  // dc = dx̂ · Wnᵀ (W_dec = Wn for both tied and untied), then dpre and db_enc
  const float* dxhat = xhat;
  sgemm(false, true, B, n, d, 1.0f, dxhat, d, Wn, d, 0.0f, dpre, n);
  bias_relu_backward(dpre, s->gb_enc, dpre, c, mask, B, n,
                     static_cast<float>(static_cast<double>(cfg.l1_coefficient) / static_cast<double>(Bv)));

  if (cfg.tied) {
    // dWn = cᵀ·dx̂ + dpreᵀ·x' = [c ; dpre]ᵀ · [dx̂ ; x']
    sgemm(true, false, n, d, 2 * B, 1.0f, s->ccat.data(), n, s->ycat.data(), d, 0.0f, s->gW, d);
  } else {
    // dWn = cᵀ·dx̂ ; dW_enc = x'ᵀ·dpre
    sgemm(true, false, n, d, B, 1.0f, c, n, dxhat, d, 0.0f, s->gW, d);
    sgemm(true, false, d, n, B, 1.0f, xin, d, dpre, n, 0.0f, s->gW_enc, n);
  }
  if (cfg.apply_b_dec_to_input) {
    // x' = x − b_dec: db_dec −= Σ_b dpre_b · W_encᵀ = db_enc · W_encᵀ
    if (cfg.tied) {
      sgemm(false, false, 1, d, n, -1.0f, s->gb_enc, n, Wn, d, 1.0f, s->gb_dec, d);
    } else {
      sgemm(false, true, 1, d, n, -1.0f, s->gb_enc, n, s->W_enc, n, 1.0f, s->gb_dec, d);
    }
  }

  if (mode == Mode::kGrad) {
    if (cfg.normalize_decoder) normalize_rows_backward(s->gW, s->gW, Wn, s->row_norm.data(), n, d);
    metrics->step = s->t;
    metrics->dead = s->dead_count();
    return Status::Ok();
  }

  // Adam. With a normalised dictionary its update is fused with the normalisation (backward for
  // this step, forward for the next); the rest of the parameters follow contiguously.
  s->t += 1;
  const AdamScalars a = adam_scalars(cfg, s->t);
  const int64_t nd = n * d;
  if (cfg.normalize_decoder) {
    dictionary_adam_renormalize(s->W, s->m.data(), s->v.data(), s->Wn_store.data(), s->row_norm.data(),
                                s->gW, n, d, a);
    adam_update(s->params.data() + nd, s->m.data() + nd, s->v.data() + nd, s->grads.data() + nd,
                s->P - nd, a);
  } else {
    adam_update(s->params.data(), s->m.data(), s->v.data(), s->grads.data(), s->P, a);
  }
  for (int64_t j = 0; j < n; ++j)
    if (s->colsum[j] > 0.0f) s->last_fired[j] = s->t;
  metrics->step = s->t;
  metrics->dead = s->dead_count();
  return Status::Ok();
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Public API

Status sae_create(const SaeConfig& cfg, Sae** out) {
  if (out == nullptr) return Status::Invalid("Expected a pointer for out but received null");
  *out = nullptr;
  RL_CHECK_ARG(cfg.d_in >= 1 && cfg.d_in <= std::numeric_limits<int32_t>::max(),
               "Expected d_in between 1 and 2147483647 but received " + std::to_string(cfg.d_in));
  RL_CHECK_ARG(cfg.d_sae >= 1 && cfg.d_sae <= std::numeric_limits<int32_t>::max(),
               "Expected d_sae between 1 and 2147483647 but received " + std::to_string(cfg.d_sae));
  RL_CHECK_ARG(cfg.d_in <= (int64_t{1} << 40) / cfg.d_sae,
               "Expected d_in·d_sae at most 2^40 but received " + std::to_string(cfg.d_in) + "·" +
                   std::to_string(cfg.d_sae));
  RL_CHECK_ARG(std::isfinite(cfg.l1_coefficient) && cfg.l1_coefficient >= 0,
               "Expected a finite number >= 0 for l1_coefficient");
  RL_CHECK_ARG(std::isfinite(cfg.lr) && cfg.lr > 0, "Expected a finite number > 0 for lr");
  RL_CHECK_ARG(cfg.adam_beta1 >= 0 && cfg.adam_beta1 < 1, "Expected a number in [0, 1) for adam_beta1");
  RL_CHECK_ARG(cfg.adam_beta2 >= 0 && cfg.adam_beta2 < 1, "Expected a number in [0, 1) for adam_beta2");
  RL_CHECK_ARG(std::isfinite(cfg.adam_eps) && cfg.adam_eps > 0, "Expected a finite number > 0 for adam_eps");
  RL_CHECK_ARG(cfg.init == SaeInit::kOrthogonal || cfg.init == SaeInit::kKaiming,
               "Expected orthogonal or kaiming for init");
  RL_CHECK_ARG(cfg.dead_window >= 1, "Expected an integer >= 1 for dead_window");
  return guarded([&]() -> Status {
    Sae* s = new Sae();
    try {
      s->cfg = cfg;
      s->n = cfg.d_sae;
      s->d = cfg.d_in;
      const int64_t nd = s->n * s->d;
      s->P = nd * (cfg.tied ? 1 : 2) + s->n + s->d;
      s->params.assign(static_cast<size_t>(s->P), 0.0f);
      s->grads.assign(static_cast<size_t>(s->P), 0.0f);
      s->m.assign(static_cast<size_t>(s->P), 0.0f);
      s->v.assign(static_cast<size_t>(s->P), 0.0f);
      if (cfg.normalize_decoder) {
        s->Wn_store.assign(static_cast<size_t>(nd), 0.0f);
        s->row_norm.assign(static_cast<size_t>(s->n), 0.0f);
      }
      s->last_fired.assign(static_cast<size_t>(s->n), 0);
      s->colsum.assign(static_cast<size_t>(s->n), 0.0f);
      s->bind_views();

      Rng rng(cfg.seed);
      if (cfg.init == SaeInit::kOrthogonal) {
        init_orthogonal(s->W, s->n, s->d, rng);
      } else {
        init_kaiming(s->W, s->n, s->d, rng);
      }
      s->ensure_wn();
      if (!cfg.tied) transpose(s->W_enc, s->Wn, s->n, s->d);  // W_enc starts as the initial Wnᵀ
    } catch (...) {
      delete s;
      throw;
    }
    *out = s;
    return Status::Ok();
  });
}

void sae_destroy(Sae* sae) { delete sae; }

const SaeConfig& sae_config(const Sae* sae) { return sae->cfg; }
int64_t sae_step_count(const Sae* sae) { return sae->t; }

size_t sae_memory_bytes(const Sae* s) {
  const size_t floats = s->params.capacity() + s->grads.capacity() + s->m.capacity() + s->v.capacity() +
                        s->Wn_store.capacity() + s->row_norm.capacity() + s->colsum.capacity() +
                        s->ccat.capacity() + s->ycat.capacity();
  return floats * sizeof(float) + s->last_fired.capacity() * sizeof(int64_t) + sizeof(Sae);
}

Status sae_step(Sae* sae, const float* x, const uint8_t* mask, int64_t rows, SaeMetrics* metrics) {
  if (metrics == nullptr) return Status::Invalid("Expected a pointer for metrics but received null");
  return guarded([&] { return sae_run(sae, x, mask, rows, Mode::kStep, nullptr, nullptr, metrics); });
}

Status sae_forward(Sae* sae, const float* x, const uint8_t* mask, int64_t rows, float* x_hat, float* c,
                   SaeMetrics* metrics) {
  if (x_hat == nullptr || c == nullptr || metrics == nullptr)
    return Status::Invalid("Expected output pointers for x_hat, c and metrics but received null");
  return guarded([&] { return sae_run(sae, x, mask, rows, Mode::kForward, x_hat, c, metrics); });
}

Status sae_loss_and_grad(Sae* sae, const float* x, const uint8_t* mask, int64_t rows, SaeMetrics* metrics,
                         const SaeGrads& grads) {
  if (metrics == nullptr || grads.W == nullptr || grads.b_enc == nullptr || grads.b_dec == nullptr)
    return Status::Invalid("Expected output pointers for metrics, W, b_enc and b_dec but received null");
  if (sae != nullptr && !sae->cfg.tied && grads.W_enc == nullptr)
    return Status::Invalid("Expected an output pointer for W_enc (untied model) but received null");
  return guarded([&]() -> Status {
    RL_RETURN_IF_ERROR(sae_run(sae, x, mask, rows, Mode::kGrad, nullptr, nullptr, metrics));
    const int64_t n = sae->n, d = sae->d;
    std::memcpy(grads.W, sae->gW, sizeof(float) * n * d);
    if (!sae->cfg.tied) std::memcpy(grads.W_enc, sae->gW_enc, sizeof(float) * n * d);
    std::memcpy(grads.b_enc, sae->gb_enc, sizeof(float) * n);
    std::memcpy(grads.b_dec, sae->gb_dec, sizeof(float) * d);
    return Status::Ok();
  });
}

Status sae_encode(Sae* s, const float* x, int64_t rows, float* c) {
  if (c == nullptr) return Status::Invalid("Expected an output pointer for c but received null");
  return guarded([&]() -> Status {
    // Rows may exceed the 32-bit BLAS range here: each chunk is a separate GEMM.
    if (s == nullptr || x == nullptr) return Status::Invalid("Expected a handle and x but received null");
    if (rows < 1) return Status::Invalid("Expected at least 1 row for x but received " + std::to_string(rows));
    const int64_t n = s->n, d = s->d;
    const SaeConfig& cfg = s->cfg;
    s->ensure_wn();
    constexpr int64_t kChunk = 1024;  // rows per GEMM: scratch is at most kChunk·d floats
    std::vector<float> xin_buf;
    if (cfg.apply_b_dec_to_input) xin_buf.resize(static_cast<size_t>(std::min(rows, kChunk) * d));
    for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
      const int64_t rc = std::min(kChunk, rows - r0);
      const float* xin = x + r0 * d;
      // checked chunk by chunk, just before the GEMM reads it from cache (c is undefined on error)
      if (const int64_t bad = first_non_finite(xin, rc * d); bad >= 0) return non_finite_error("x", xin[bad], r0 * d + bad);
      if (cfg.apply_b_dec_to_input) {
        input_forward(xin_buf.data(), xin, s->b_dec, rc, d);
        xin = xin_buf.data();
      }
      float* cc = c + r0 * n;
      if (cfg.tied) {
        sgemm(false, true, rc, n, d, 1.0f, xin, d, s->Wn, d, 0.0f, cc, n);
      } else {
        sgemm(false, false, rc, n, d, 1.0f, xin, d, s->W_enc, n, 0.0f, cc, n);
      }
      bias_relu_forward(cc, s->b_enc, nullptr, rc, n, nullptr, nullptr);
    }
    return Status::Ok();
  });
}

Status sae_get_weights(Sae* s, float* W_enc, float* b_enc, float* W_dec, float* b_dec) {
  if (s == nullptr || W_enc == nullptr || b_enc == nullptr || W_dec == nullptr || b_dec == nullptr)
    return Status::Invalid("Expected output pointers for W_enc, b_enc, W_dec and b_dec but received null");
  return guarded([&]() -> Status {
    const int64_t n = s->n, d = s->d;
    s->ensure_wn();
    std::memcpy(W_dec, s->Wn, sizeof(float) * n * d);
    if (s->cfg.tied) {
      transpose(W_enc, s->Wn, n, d);
    } else {
      std::memcpy(W_enc, s->W_enc, sizeof(float) * n * d);
    }
    std::memcpy(b_enc, s->b_enc, sizeof(float) * n);
    std::memcpy(b_dec, s->b_dec, sizeof(float) * d);
    return Status::Ok();
  });
}

Status sae_set_weights(Sae* s, const float* W_enc, const float* b_enc, const float* W_dec, const float* b_dec) {
  if (s == nullptr || b_enc == nullptr || W_dec == nullptr || b_dec == nullptr)
    return Status::Invalid("Expected input pointers for b_enc, W_dec and b_dec but received null");
  if (!s->cfg.tied && W_enc == nullptr)
    return Status::Invalid("Expected W_enc for an untied model but received null");
  RL_RETURN_IF_ERROR(sae_set_params(s, W_dec, W_enc, b_enc, b_dec));
  if (s->cfg.normalize_decoder) {
    // Rows saved at unit norm (as sae_get_weights writes them) are used exactly as stored, with
    // norm 1, rather than divided by a norm that float rounding puts an ulp away from 1: the loaded
    // model then computes exactly what SAELens computes from the same tensors, and
    // weights() → set_weights → weights() is the identity.
    const int64_t n = s->n, d = s->d;
    for (int64_t i = 0; i < n; ++i) {
      double ss = 0.0;
      for (int64_t k = 0; k < d; ++k) ss += static_cast<double>(W_dec[i * d + k]) * W_dec[i * d + k];
      if (std::fabs(std::sqrt(ss) - 1.0) <= 1e-6) {
        std::memcpy(s->Wn + i * d, W_dec + i * d, sizeof(float) * d);
        s->row_norm[i] = 1.0f;
      }
    }
  }
  std::fill(s->m.begin(), s->m.end(), 0.0f);
  std::fill(s->v.begin(), s->v.end(), 0.0f);
  std::fill(s->last_fired.begin(), s->last_fired.end(), 0);
  s->t = 0;
  return Status::Ok();
}

Status sae_get_params(const Sae* s, float* W, float* W_enc, float* b_enc, float* b_dec) {
  if (s == nullptr || W == nullptr || b_enc == nullptr || b_dec == nullptr)
    return Status::Invalid("Expected output pointers for W, b_enc and b_dec but received null");
  if (!s->cfg.tied && W_enc == nullptr)
    return Status::Invalid("Expected an output pointer for W_enc (untied model) but received null");
  const int64_t n = s->n, d = s->d;
  std::memcpy(W, s->W, sizeof(float) * n * d);
  if (!s->cfg.tied) std::memcpy(W_enc, s->W_enc, sizeof(float) * n * d);
  std::memcpy(b_enc, s->b_enc, sizeof(float) * n);
  std::memcpy(b_dec, s->b_dec, sizeof(float) * d);
  return Status::Ok();
}

Status sae_set_params(Sae* s, const float* W, const float* W_enc, const float* b_enc, const float* b_dec) {
  if (s == nullptr || W == nullptr || b_enc == nullptr || b_dec == nullptr)
    return Status::Invalid("Expected input pointers for W, b_enc and b_dec but received null");
  if (!s->cfg.tied && W_enc == nullptr)
    return Status::Invalid("Expected W_enc for an untied model but received null");
  const int64_t n = s->n, d = s->d;
  std::memcpy(s->W, W, sizeof(float) * n * d);
  if (!s->cfg.tied) std::memcpy(s->W_enc, W_enc, sizeof(float) * n * d);
  std::memcpy(s->b_enc, b_enc, sizeof(float) * n);
  std::memcpy(s->b_dec, b_dec, sizeof(float) * d);
  s->wn_valid = false;
  return guarded([&] {
    s->ensure_wn();
    return Status::Ok();
  });
}

}  // namespace rl
