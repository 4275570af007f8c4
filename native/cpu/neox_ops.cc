// The GPT-NeoX kernels on the CPU (see neox_ops.h for each contract). Plain loops a reader can
// check against docs/neox.md; OpenMP over rows (or heads) for the passes that are worth it, and
// rl::sgemm for every matrix product.
#include "neox_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "rewardlens/gemm.h"
#include "rewardlens/runtime.h"
#include "rewardlens/neox.h"
#include "parallel.h"
#include "vecmath.h"

namespace rl {
namespace neox {

namespace {


// sums[c] += Σ_n x[n,c]. x is (N,C), sums is (C).
void column_sums_add(float* sums, const float* x, int64_t N, int64_t C) {
#pragma omp parallel num_threads(threads_for(N * C))
  {
    int64_t c0, c1;
    column_block(C, thread_id(), thread_count(), &c0, &c1);
    for (int64_t n = 0; n < N && c0 < c1; ++n) {
      const float* row = x + n * C;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) sums[c] += row[c];
    }
  }
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace

// ---- embedding --------------------------------------------------------------------------------

void embedding_forward(float* out, const int32_t* ids, const float* wte, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N * C))
  for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * C, wte + static_cast<int64_t>(ids[n]) * C, C * sizeof(float));
}

void embedding_backward(float* dwte, const float* dout, const int32_t* ids, int64_t N, int64_t C) {
  // Serial over rows: two rows with the same token add into the same row of dwte.
  for (int64_t n = 0; n < N; ++n) {
    float* d = dwte + static_cast<int64_t>(ids[n]) * C;
    const float* g = dout + n * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) d[c] += g[c];
  }
}

void position_embedding_forward(float* out, const int32_t* pos, const float* wpe, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N * C))
  for (int64_t n = 0; n < N; ++n) {
    float* o = out + n * C;
    const float* p = wpe + static_cast<int64_t>(pos[n]) * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) o[c] += p[c];
  }
}

void position_embedding_backward(float* dwpe, const float* dout, const int32_t* pos, int64_t N, int64_t C) {
  // forward: out[n] += wpe[pos[n]]  →  dwpe[pos[n]] += dout[n] (the embedding's backward, over positions)
  embedding_backward(dwpe, dout, pos, N, C);
}

// ---- layer norm -------------------------------------------------------------------------------

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N * C))
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float* y = out + n * C;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < C; ++c) s += x[c];
    const float m = s / static_cast<float>(C);
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    const float r = 1.0f / std::sqrt(v / static_cast<float>(C) + eps);
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) * r * w[c] + b[c];
    mean[n] = m;
    rstd[n] = r;
  }
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int64_t N, int64_t C) {
  // forward: n = (x − m)·r; y = n·w + b
  // backward: dn = dy·w; dx = (dn − mean(dn) − n·mean(dn·n))·r  (m and r depend on x)
#pragma omp parallel for schedule(static) num_threads(threads_for(N * C))
  for (int64_t i = 0; i < N; ++i) {
    const float* x = inp + i * C;
    const float* dy = dout + i * C;
    float* dx = dinp + i * C;
    const float m = mean[i], r = rstd[i];
    float dn_mean = 0.0f, dnn_mean = 0.0f;
#pragma omp simd reduction(+ : dn_mean, dnn_mean)
    for (int64_t c = 0; c < C; ++c) {
      const float dn = dy[c] * w[c];
      dn_mean += dn;
      dnn_mean += dn * (x[c] - m) * r;
    }
    dn_mean /= static_cast<float>(C);
    dnn_mean /= static_cast<float>(C);
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float nrm = (x[c] - m) * r;
      dx[c] += (dy[c] * w[c] - dn_mean - nrm * dnn_mean) * r;
    }
  }
  // dw += Σ_rows dy·n; db += Σ_rows dy (column blocks: no two threads share a column)
#pragma omp parallel num_threads(threads_for(N * C))
  {
    int64_t c0, c1;
    column_block(C, thread_id(), thread_count(), &c0, &c1);
    for (int64_t i = 0; i < N && c0 < c1; ++i) {
      const float* x = inp + i * C;
      const float* dy = dout + i * C;
      const float m = mean[i], r = rstd[i];
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        dw[c] += dy[c] * (x[c] - m) * r;
        db[c] += dy[c];
      }
    }
  }
}

// ---- linear -------------------------------------------------------------------------------------

void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int64_t N,
                    int64_t IN, int64_t OUT) {
  // out = inp·wᵀ (+ bias: written first, then the product added with beta = 1)
  if (bias != nullptr) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N * OUT))
    for (int64_t n = 0; n < N; ++n) std::memcpy(out + n * OUT, bias, OUT * sizeof(float));
  }
  sgemm(false, true, N, OUT, IN, 1.0f, inp, IN, w, IN, bias != nullptr ? 1.0f : 0.0f, out, OUT);
}

void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int64_t N, int64_t IN, int64_t OUT, bool accumulate) {
  // forward: out = inp·wᵀ + b
  // backward: dinp = dout·w; dw += doutᵀ·inp; db += Σ_rows dout
  if (dinp != nullptr) sgemm(false, false, N, IN, OUT, 1.0f, dout, OUT, w, IN, accumulate ? 1.0f : 0.0f, dinp, IN);
  sgemm(true, false, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 1.0f, dw, IN);
  if (dbias != nullptr) column_sums_add(dbias, dout, N, OUT);
}

// ---- linear for a few rows ----------------------------------------------------------------------

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which its own -Wuninitialized then
// reports inside them (GCC bug 105593); silenced for this section only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace {

// The register tile: OB output rows of w × NB input rows, one vector accumulator each, over the
// whole depth; then a horizontal sum per (input row, output row). The x vector is pinned in a
// register (the empty asm) so the compiler loads it once per k step rather than once per FMA.
// Vec wraps one SIMD width: zero, load, tail load of the first n lanes, fma, horizontal sum.
#if defined(__AVX512F__)
struct Vec {
  using T = __m512;
  static constexpr int64_t W = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static T load_n(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1u), p); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(T a) {  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
    T t = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0x4E));  // + the other 256-bit half
    t = _mm512_add_ps(t, _mm512_shuffle_f32x4(t, t, 0xB1));    // + the neighbouring 128-bit lane
    __m128 v = _mm512_castps512_ps128(t);
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
  }
};
constexpr int kTileOut = 3, kTileRows = 8;  // 24 accumulators + 3 w + 1 x of 32 registers
#elif defined(__AVX2__) && defined(__FMA__)
struct Vec {
  using T = __m256;
  static constexpr int64_t W = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T load_n(const float* p, int64_t n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lane));
  }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(T a) {
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
  }
};
// 10 accumulators + 5 w + 1 x of 16 registers. Five outputs a tile read the rows' inputs from cache
// 5/3 times less often than 3 × 4 did: a decode step of 16 rows over GPT-Neo-125m's 12 layers took
// 42 ms in place of 48–51 (2-core AVX2 Zen, weights streamed from memory).
constexpr int kTileOut = 5, kTileRows = 2;
#endif

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
// out[n0+j, o0+i] = bias[o0+i] + inp[n0+j,:]·w[o0+i,:] for i < OB, j < NB. pf: rows of w to
// prefetch alongside (the next tile's, on the first pass over a tile), or null.
template <int OB, int NB>
inline void rows_tile(float* out, const float* inp, const float* w, const float* bias, int64_t IN,
                      int64_t OUT, int64_t o0, int64_t n0, const float* pf) {
  typename Vec::T acc[OB][NB];
  for (int i = 0; i < OB; ++i)
    for (int j = 0; j < NB; ++j) acc[i][j] = Vec::zero();
  const float* wr[OB];
  const float* xr[NB];
  for (int i = 0; i < OB; ++i) wr[i] = w + (o0 + i) * IN;
  for (int j = 0; j < NB; ++j) xr[j] = inp + (n0 + j) * IN;
  int64_t k = 0;
  for (; k + Vec::W <= IN; k += Vec::W) {
    typename Vec::T wv[OB];
    for (int i = 0; i < OB; ++i) wv[i] = Vec::load(wr[i] + k);
    if (pf != nullptr) {
      for (int i = 0; i < OB; ++i) _mm_prefetch(reinterpret_cast<const char*>(pf + i * IN + k), _MM_HINT_T0);
    }
    for (int j = 0; j < NB; ++j) {
      typename Vec::T xv = Vec::load(xr[j] + k);
      asm("" : "+v"(xv));
      for (int i = 0; i < OB; ++i) acc[i][j] = Vec::fma(wv[i], xv, acc[i][j]);
    }
  }
  if (k < IN) {  // the last IN − k < W columns, loaded with zeros beyond
    typename Vec::T wv[OB];
    for (int i = 0; i < OB; ++i) wv[i] = Vec::load_n(wr[i] + k, IN - k);
    for (int j = 0; j < NB; ++j) {
      const typename Vec::T xv = Vec::load_n(xr[j] + k, IN - k);
      for (int i = 0; i < OB; ++i) acc[i][j] = Vec::fma(wv[i], xv, acc[i][j]);
    }
  }
  for (int j = 0; j < NB; ++j) {
    for (int i = 0; i < OB; ++i) {
      out[(n0 + j) * OUT + o0 + i] = Vec::sum(acc[i][j]) + (bias != nullptr ? bias[o0 + i] : 0.0f);
    }
  }
}

// Output rows o0 .. o0+OB for every input row: tiles of kTileRows rows, then the remainder.
template <int OB>
void rows_block(float* out, const float* inp, const float* w, const float* bias, int64_t N, int64_t IN,
                int64_t OUT, int64_t o0) {
  const float* pf = o0 + 2 * OB <= OUT ? w + (o0 + OB) * IN : nullptr;
  int64_t n0 = 0;
  for (; n0 + kTileRows <= N; n0 += kTileRows) {
    rows_tile<OB, kTileRows>(out, inp, w, bias, IN, OUT, o0, n0, pf);
    pf = nullptr;
  }
  switch (N - n0) {
    case 7: rows_tile<OB, 7>(out, inp, w, bias, IN, OUT, o0, n0, pf); break;
    case 6: rows_tile<OB, 6>(out, inp, w, bias, IN, OUT, o0, n0, pf); break;
    case 5: rows_tile<OB, 5>(out, inp, w, bias, IN, OUT, o0, n0, pf); break;
    case 4: rows_tile<OB, 4>(out, inp, w, bias, IN, OUT, o0, n0, pf); break;
    case 3: rows_tile<OB, 3>(out, inp, w, bias, IN, OUT, o0, n0, pf); break;
    case 2: rows_tile<OB, 2>(out, inp, w, bias, IN, OUT, o0, n0, pf); break;
    case 1: rows_tile<OB, 1>(out, inp, w, bias, IN, OUT, o0, n0, pf); break;
    default: break;
  }
}
#endif

}  // namespace

int64_t matmul_rows_max() {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  // Against OpenBLAS the row kernel wins for a decode step of up to 32 rows (it streams each weight
  // once); a prompt's prefill or a 64-row PPO rollout step runs faster as an OpenBLAS GEMM
  // (measured on a 2-core AVX2 Zen: GPT-Neo-125m prefill of 128 rows 335 → 260 ms, 64-row decode
  // step 116 → 83 ms). Against the fallback GEMM the row kernel is the faster at every N.
  return std::strcmp(gemm_backend(), "openblas") == 0 ? 32 : std::numeric_limits<int64_t>::max();
#else
  return 32;
#endif
}

void matmul_forward_rows(float* out, const float* inp, const float* w, const float* bias, int64_t N,
                         int64_t IN, int64_t OUT) {
  // out = inp·wᵀ + bias, by blocks of output rows; each thread streams its own block of w once
  // per block of input rows (one block for a decode step)
  if (N <= 0 || OUT <= 0) return;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  const int64_t tiles = (OUT + kTileOut - 1) / kTileOut;
  const int64_t rows_per_block = std::max<int64_t>(kTileRows, (int64_t{1} << 17) / std::max<int64_t>(IN, 1) / kTileRows * kTileRows);
#pragma omp parallel num_threads(threads_for(N * IN * OUT / 8))
  {
    const int64_t nt = thread_count(), tid = thread_id();
    const int64_t per = (tiles + nt - 1) / nt;
    const int64_t t0 = std::min(tiles, per * tid), t1 = std::min(tiles, t0 + per);
    for (int64_t n0 = 0; n0 < N; n0 += rows_per_block) {  // 512 KB of inputs at a time
      const int64_t nb = std::min(rows_per_block, N - n0);
      const float* x = inp + n0 * IN;
      float* y = out + n0 * OUT;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t o0 = t * kTileOut;
        if (o0 + kTileOut <= OUT) {
          rows_block<kTileOut>(y, x, w, bias, nb, IN, OUT, o0);
        } else {
          for (int64_t o = o0; o < OUT; ++o) rows_block<1>(y, x, w, bias, nb, IN, OUT, o);
        }
      }
    }
  }
#else
  // portable: one dot product per output
#pragma omp parallel for schedule(static) num_threads(threads_for(N * IN * OUT / 8))
  for (int64_t o = 0; o < OUT; ++o) {
    const float* wo = w + o * IN;
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * IN;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t k = 0; k < IN; ++k) s += x[k] * wo[k];
      out[n * OUT + o] = s + (bias != nullptr ? bias[o] : 0.0f);
    }
  }
#endif
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// ---- rotary -------------------------------------------------------------------------------------

void rotary_tables(float* cos, float* sin, const int32_t* pos, int64_t N, int64_t RD, double base) {
  const int64_t half = RD / 2;
  if (half == 0) return;
  // transformers: inv_freq = 1.0 / (base ** (arange(0, RD, 2).float() / RD)), all in float32;
  // freqs = inv_freq · position (float32); cos/sin of that float32 angle.
  std::vector<float> inv_freq(half);
  for (int64_t j = 0; j < half; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(RD);
    inv_freq[j] = 1.0f / std::pow(static_cast<float>(base), e);
  }
#pragma omp parallel for schedule(static) num_threads(threads_for(N * half * 16))
  for (int64_t n = 0; n < N; ++n) {
    const float p = static_cast<float>(pos[n]);
    for (int64_t j = 0; j < half; ++j) {
      const float angle = inv_freq[j] * p;
      cos[n * half + j] = static_cast<float>(std::cos(static_cast<double>(angle)));
      sin[n * half + j] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
}

void rotary_forward(float* qkv, const float* cos, const float* sin, int64_t N, int64_t NH,
                    int64_t HD, int64_t RD) {
  const int64_t half = RD / 2;
  if (half == 0) return;
#pragma omp parallel for schedule(static) num_threads(threads_for(N * NH * RD * 2))
  for (int64_t n = 0; n < N; ++n) {
    const float* cs = cos + n * half;
    const float* sn = sin + n * half;
    for (int64_t h = 0; h < NH; ++h) {
      for (int64_t part = 0; part < 2; ++part) {  // q, then k
        float* x = qkv + (n * NH + h) * 3 * HD + part * HD;
#pragma omp simd
        for (int64_t j = 0; j < half; ++j) {
          const float x1 = x[j], x2 = x[j + half];
          x[j] = x1 * cs[j] - x2 * sn[j];
          x[j + half] = x2 * cs[j] + x1 * sn[j];
        }
      }
    }
  }
}

void rotary_backward(float* dqkv, const float* cos, const float* sin, int64_t N, int64_t NH,
                     int64_t HD, int64_t RD) {
  const int64_t half = RD / 2;
  if (half == 0) return;
  // forward: y1 = x1·c − x2·s; y2 = x2·c + x1·s
  // backward: dx1 = dy1·c + dy2·s; dx2 = dy2·c − dy1·s
#pragma omp parallel for schedule(static) num_threads(threads_for(N * NH * RD * 2))
  for (int64_t n = 0; n < N; ++n) {
    const float* cs = cos + n * half;
    const float* sn = sin + n * half;
    for (int64_t h = 0; h < NH; ++h) {
      for (int64_t part = 0; part < 2; ++part) {
        float* d = dqkv + (n * NH + h) * 3 * HD + part * HD;
#pragma omp simd
        for (int64_t j = 0; j < half; ++j) {
          const float dy1 = d[j], dy2 = d[j + half];
          d[j] = dy1 * cs[j] + dy2 * sn[j];
          d[j + half] = dy2 * cs[j] - dy1 * sn[j];
        }
      }
    }
  }
}

// ---- attention ----------------------------------------------------------------------------------

void attention_forward(float* out, float* att, const float* qkv, const uint8_t* mask, int64_t B,
                       int64_t T, const AttnShape& sh) {
  const int64_t NH = sh.NH, HD = sh.HD, C3 = NH * 3 * HD, C = NH * HD;
  const float scale = sh.scale;
#pragma omp parallel for collapse(3) schedule(static) num_threads(threads_for(B * NH * T * std::min(T, sh.window > 0 ? sh.window : T) * HD / 8))
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < NH; ++h) {
      for (int64_t t = 0; t < T; ++t) {
        const float* q = qkv + (b * T + t) * C3 + sh.q(h);
        float* a = att + ((b * NH + h) * T + t) * T;
        float* o = out + (b * T + t) * C + h * HD;
        const int64_t j0 = sh.first_key(t);
        // scores s_j = q·k_j·scale over visible keys (j0 <= j <= t, mask 1); −inf elsewhere
        for (int64_t j = 0; j < j0; ++j) a[j] = 0.0f;
        float maxv = kNegInf;
        for (int64_t j = j0; j <= t; ++j) {
          if (mask != nullptr && mask[b * T + j] == 0) {
            a[j] = kNegInf;
            continue;
          }
          const float* k = qkv + (b * T + j) * C3 + sh.k(h);
          float s = 0.0f;
#pragma omp simd reduction(+ : s)
          for (int64_t d = 0; d < HD; ++d) s += q[d] * k[d];
          s *= scale;
          a[j] = s;
          maxv = std::max(maxv, s);
        }
        for (int64_t j = t + 1; j < T; ++j) a[j] = 0.0f;
        if (maxv == kNegInf) {  // no visible key: att 0, out 0
          for (int64_t j = j0; j <= t; ++j) a[j] = 0.0f;
          for (int64_t d = 0; d < HD; ++d) o[d] = 0.0f;
          continue;
        }
        // softmax over j0 <= j <= t (exp(−inf) = 0 for masked keys)
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = j0; j <= t; ++j) {
          const float e = exp_approx(a[j] - maxv);
          a[j] = e;
          sum += e;
        }
        const float inv = 1.0f / sum;
        for (int64_t j = j0; j <= t; ++j) a[j] *= inv;
        // out = Σ_j att_j·v_j
        for (int64_t d = 0; d < HD; ++d) o[d] = 0.0f;
        for (int64_t j = j0; j <= t; ++j) {
          const float p = a[j];
          if (p == 0.0f) continue;
          const float* v = qkv + (b * T + j) * C3 + sh.v(h);
#pragma omp simd
          for (int64_t d = 0; d < HD; ++d) o[d] += p * v[d];
        }
      }
    }
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att,
                        int64_t B, int64_t T, const AttnShape& sh) {
  const int64_t NH = sh.NH, HD = sh.HD, C3 = NH * 3 * HD, C = NH * HD;
  const float scale = sh.scale;
  // Each (b, h) owns the dq, dk, dv of its head in its row: no two threads write the same entry.
#pragma omp parallel num_threads(threads_for(B * NH * T * std::min(T, sh.window > 0 ? sh.window : T) * HD / 8))
  {
    std::vector<float> dp(static_cast<size_t>(T));
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < NH; ++h) {
        for (int64_t t = 0; t < T; ++t) {
          float* row = dqkv + (b * T + t) * C3;
          std::memset(row + sh.q(h), 0, HD * sizeof(float));
          std::memset(row + sh.k(h), 0, HD * sizeof(float));
          std::memset(row + sh.v(h), 0, HD * sizeof(float));
        }
        for (int64_t t = 0; t < T; ++t) {
          const float* a = att + ((b * NH + h) * T + t) * T;
          const float* q = qkv + (b * T + t) * C3 + sh.q(h);
          const float* go = dout + (b * T + t) * C + h * HD;
          float* dq = dqkv + (b * T + t) * C3 + sh.q(h);
          const int64_t j0 = sh.first_key(t);
          // forward: out = Σ_j p_j·v_j  →  dv_j += p_j·dout;  dp_j = dout·v_j
          float pdp = 0.0f;
          for (int64_t j = j0; j <= t; ++j) {
            const float p = a[j];
            if (p == 0.0f) {
              dp[j] = 0.0f;
              continue;
            }
            const float* v = qkv + (b * T + j) * C3 + sh.v(h);
            float* dv = dqkv + (b * T + j) * C3 + sh.v(h);
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t d = 0; d < HD; ++d) {
              s += go[d] * v[d];
              dv[d] += p * go[d];
            }
            dp[j] = s;
            pdp += p * s;
          }
          // forward: p = softmax(s), s_j = q·k_j·scale
          // backward: ds_j = p_j·(dp_j − Σ_k p_k·dp_k); dq += ds_j·scale·k_j; dk_j += ds_j·scale·q
          for (int64_t j = j0; j <= t; ++j) {
            const float p = a[j];
            if (p == 0.0f) continue;
            const float ds = p * (dp[j] - pdp) * scale;
            const float* k = qkv + (b * T + j) * C3 + sh.k(h);
            float* dk = dqkv + (b * T + j) * C3 + sh.k(h);
#pragma omp simd
            for (int64_t d = 0; d < HD; ++d) {
              dq[d] += ds * k[d];
              dk[d] += ds * q[d];
            }
          }
        }
      }
    }
  }
}

// ---- attention over a KV cache ------------------------------------------------------------------

void kv_cache_append(float* kc, float* vc, const float* qkv, const int64_t* rows, int64_t Bn,
                     int64_t Tn, int64_t start, int64_t Tmax, const AttnShape& sh) {
  const int64_t NH = sh.NH, HD = sh.HD;
  for (int64_t i = 0; i < Bn; ++i) {
    const int64_t b = rows != nullptr ? rows[i] : i;
    for (int64_t t = 0; t < Tn; ++t) {
      const float* src = qkv + (i * Tn + t) * NH * 3 * HD;
      for (int64_t h = 0; h < NH; ++h) {
        const int64_t dst = ((b * NH + h) * Tmax + start + t) * HD;
        std::memcpy(kc + dst, src + sh.k(h), HD * sizeof(float));
        std::memcpy(vc + dst, src + sh.v(h), HD * sizeof(float));
      }
    }
  }
}

int64_t attention_cached_scratch(int64_t Tmax) {
#ifdef _OPENMP
  return static_cast<int64_t>(omp_get_max_threads()) * Tmax;
#else
  return Tmax;
#endif
}

void attention_cached_forward(float* out, const float* qkv, const float* kc, const float* vc,
                              const uint8_t* cmask, const int64_t* rows, int64_t Bn, int64_t Tn,
                              int64_t start, int64_t Tmax, const AttnShape& sh, float* scratch) {
  const int64_t NH = sh.NH, HD = sh.HD, C = NH * HD;
  const float scale = sh.scale;
  const int64_t cols = sh.window > 0 ? std::min(start + Tn, sh.window) : start + Tn;
#pragma omp parallel num_threads(threads_for(Bn * Tn * NH * cols * HD))
  {
    float* a = scratch + thread_id() * Tmax;
#pragma omp for collapse(3) schedule(static)
    for (int64_t i = 0; i < Bn; ++i) {
      for (int64_t h = 0; h < NH; ++h) {
        for (int64_t t = 0; t < Tn; ++t) {
          const int64_t b = rows != nullptr ? rows[i] : i;
          const int64_t c = start + t;  // the query's column
          const int64_t j0 = sh.first_key(c);
          const float* q = qkv + (i * Tn + t) * NH * 3 * HD + sh.q(h);
          const float* K = kc + (b * NH + h) * Tmax * HD;
          const float* Vv = vc + (b * NH + h) * Tmax * HD;
          const uint8_t* mk = cmask + b * Tmax;
          float* o = out + (i * Tn + t) * C + h * HD;
          // scores over visible columns j0 <= j <= c; −inf elsewhere
          float maxv = kNegInf;
          for (int64_t j = j0; j <= c; ++j) {
            if (mk[j] == 0) {
              a[j] = kNegInf;
              continue;
            }
            const float* k = K + j * HD;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t d = 0; d < HD; ++d) s += q[d] * k[d];
            s *= scale;
            a[j] = s;
            maxv = std::max(maxv, s);
          }
          for (int64_t d = 0; d < HD; ++d) o[d] = 0.0f;
          if (maxv == kNegInf) continue;  // no visible column: out 0
          float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = j0; j <= c; ++j) {
            const float e = exp_approx(a[j] - maxv);
            a[j] = e;
            sum += e;
          }
          const float inv = 1.0f / sum;
          for (int64_t j = j0; j <= c; ++j) {
            const float p = a[j] * inv;
            if (p == 0.0f) continue;
            const float* v = Vv + j * HD;
#pragma omp simd
            for (int64_t d = 0; d < HD; ++d) o[d] += p * v[d];
          }
        }
      }
    }
  }
}

// ---- GELU ---------------------------------------------------------------------------------------

namespace {
constexpr float kSqrtHalf = 0.70710678118654752f;      // 1/√2
constexpr float kInvSqrt2Pi = 0.39894228040143268f;    // 1/√(2π)
constexpr float kSqrt2OverPi = 0.79788456080286536f;   // √(2/π)
constexpr float kGeluCubic = 0.044715f;
}  // namespace

void gelu_forward(float* out, const float* inp, int64_t N, bool tanh_form) {
  if (tanh_form) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(N))
    for (int64_t i = 0; i < N; ++i) {
      const float x = inp[i];
      const float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
      out[i] = 0.5f * x * (1.0f + tanh_approx(u));
    }
  } else {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(N))
    for (int64_t i = 0; i < N; ++i) {
      const float x = inp[i];
      out[i] = 0.5f * x * (1.0f + erf_approx(x * kSqrtHalf));
    }
  }
}

void gelu_backward(float* dinp, const float* dout, const float* inp, int64_t N, bool tanh_form) {
  if (tanh_form) {
    // forward: y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³)
    // backward: dy/dx = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
#pragma omp parallel for simd schedule(static) num_threads(threads_for(N))
    for (int64_t i = 0; i < N; ++i) {
      const float x = inp[i];
      const float u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
      const float th = tanh_approx(u);
      const float du = kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * x * x);
      dinp[i] = dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
    }
  } else {
    // forward: y = x·Φ(x), Φ(x) = ½(1 + erf(x/√2))
    // backward: dy/dx = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π)
#pragma omp parallel for simd schedule(static) num_threads(threads_for(N))
    for (int64_t i = 0; i < N; ++i) {
      const float x = inp[i];
      const float cdf = 0.5f * (1.0f + erf_approx(x * kSqrtHalf));
      const float pdf = kInvSqrt2Pi * exp_approx(-0.5f * x * x);
      dinp[i] = dout[i] * (cdf + x * pdf);
    }
  }
}

// ---- residual -----------------------------------------------------------------------------------

void residual_forward(float* out, const float* a, const float* b, int64_t N) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(N))
  for (int64_t i = 0; i < N; ++i) out[i] = a[i] + b[i];
}

void residual3_forward(float* out, const float* x, const float* a, const float* b, int64_t N) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(N))
  for (int64_t i = 0; i < N; ++i) out[i] = x[i] + (a[i] + b[i]);
}

// ---- log-softmax rows ---------------------------------------------------------------------------

namespace {
constexpr int64_t kExpChunk = 2048;  // partial sums of exp in float over 8 KB, merged in double
}

void logsumexp_rows(float* lse, const float* logits, int64_t R, int64_t V) {
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads_for(R * V))
  for (int64_t r = 0; r < R; ++r) {
    const float* x = logits + r * V;
    float m = kNegInf;
#pragma omp simd reduction(max : m)
    for (int64_t v = 0; v < V; ++v) m = std::max(m, x[v]);
    double s = 0.0;
    for (int64_t c0 = 0; c0 < V; c0 += kExpChunk) {
      const int64_t c1 = std::min(V, c0 + kExpChunk);
      float cs = 0.0f;
#pragma omp simd reduction(+ : cs)
      for (int64_t v = c0; v < c1; ++v) cs += exp_approx(x[v] - m);
      s += cs;
    }
    lse[r] = static_cast<float>(static_cast<double>(m) + std::log(s));
  }
}

void xent_backward(float* logits, const float* lse, const float* pcoef, const int32_t* y1,
                   const float* c1, const int32_t* y2, const float* c2, int64_t R, int64_t V) {
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads_for(R * V))
  for (int64_t r = 0; r < R; ++r) {
    float* x = logits + r * V;
    const float a = pcoef[r];
    if (a == 0.0f && c1[r] == 0.0f && c2[r] == 0.0f) {
      std::memset(x, 0, V * sizeof(float));
      continue;
    }
    const float l = lse[r];
#pragma omp simd
    for (int64_t v = 0; v < V; ++v) x[v] = a * exp_approx(x[v] - l);
    if (y1[r] >= 0) x[y1[r]] += c1[r];
    if (y2[r] >= 0) x[y2[r]] += c2[r];
  }
}

// ---- row selection -----------------------------------------------------------------------------

void gather_rows(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t C) {
#pragma omp parallel for schedule(static) num_threads(threads_for(n * C))
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * C, src + rows[i] * C, C * sizeof(float));
}

void scatter_add_rows(float* dst, const float* src, const int64_t* rows, int64_t n, int64_t C) {
  // forward: gather_rows → backward: each selected row's gradient goes back to its row
#pragma omp parallel for schedule(static) num_threads(threads_for(n * C))
  for (int64_t i = 0; i < n; ++i) {
    float* d = dst + rows[i] * C;
    const float* g = src + i * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) d[c] += g[c];
  }
}

// ---- value head ---------------------------------------------------------------------------------

// The value head with TRL's dropout on its input: keep(n, c) ⇔ hash(seed, n, c) >= p·2^32.
static inline uint32_t dropout_threshold(float p) {
  return static_cast<uint32_t>(std::min(4294967295.0, static_cast<double>(p) * 4294967296.0));
}

void value_forward(float* values, const float* h, const float* w, const float* b, int64_t N, int64_t C,
                   float dropout, uint32_t seed) {
  // v_n = Σ_c h_nc·keep_nc·w_c / (1 − p) + b   (keep = 1, scale 1 without dropout)
  const uint32_t thr = dropout_threshold(dropout);
  const float scale = dropout > 0.0f ? 1.0f / (1.0f - dropout) : 1.0f;
#pragma omp parallel for schedule(static) num_threads(threads_for(N * C))
  for (int64_t n = 0; n < N; ++n) {
    const float* x = h + n * C;
    float s = 0.0f;
    if (dropout > 0.0f) {
      for (int64_t c = 0; c < C; ++c) {
        if (value_dropout_hash(seed, static_cast<uint32_t>(n), static_cast<uint32_t>(c)) >= thr) s += x[c] * w[c];
      }
      s *= scale;
    } else {
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < C; ++c) s += x[c] * w[c];
    }
    values[n] = s + b[0];
  }
}

void value_backward(float* dh, float* dw, float* db, const float* dvalues, const float* h,
                    const float* w, int64_t N, int64_t C, float dropout, uint32_t seed) {
  // forward: v_n = (h_n ⊙ k_n)·w/(1−p) + b  →  dh_n += dv_n·k_n⊙w/(1−p); dw += Σ dv_n·k_n⊙h_n/(1−p); db += Σ dv_n
  const uint32_t thr = dropout_threshold(dropout);
  const float scale = dropout > 0.0f ? 1.0f / (1.0f - dropout) : 1.0f;
  double dbs = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float g = dvalues[n];
    if (g == 0.0f) continue;
    const float* x = h + n * C;
    float* dx = dh + n * C;
    if (dropout > 0.0f) {
      const float gs = g * scale;
      for (int64_t c = 0; c < C; ++c) {
        if (value_dropout_hash(seed, static_cast<uint32_t>(n), static_cast<uint32_t>(c)) < thr) continue;
        dx[c] += gs * w[c];
        dw[c] += gs * x[c];
      }
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        dx[c] += g * w[c];
        dw[c] += g * x[c];
      }
    }
    dbs += g;
  }
  db[0] += static_cast<float>(dbs);
}

}  // namespace neox
}  // namespace rl
