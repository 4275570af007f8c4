// Single-precision GEMM: OpenBLAS when linked, else a blocked, packed, OpenMP-parallel GEMM of
// our own (the classic Goto/BLIS structure: pack a KC×NC panel of B and an MC×KC block of A,
// then run an MR×NR register micro-kernel over them). Row-major throughout.
#include "rewardlens/gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef RL_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace rl {

bool gemm_use_fallback();  // runtime.cc

namespace {

constexpr int64_t MR = 6;    // micro-kernel rows
constexpr int64_t NR = 16;   // micro-kernel columns (two AVX2 / one AVX-512 register)
constexpr int64_t KC = 256;  // depth of a packed block
constexpr int64_t MC = 120;  // rows of A per block (multiple of MR)
constexpr int64_t NC = 2048; // columns of B per panel (multiple of NR)

// op(A)(i,k) and op(B)(k,j) for row-major storage.
inline float at_a(const float* A, int64_t lda, bool ta, int64_t i, int64_t k) {
  return ta ? A[k * lda + i] : A[i * lda + k];
}
inline float at_b(const float* B, int64_t ldb, bool tb, int64_t k, int64_t j) {
  return tb ? B[j * ldb + k] : B[k * ldb + j];
}

// Pack rows [i0, i0+mc) × depth [k0, k0+kc) of op(A) into MR-row slivers: Ap[s][k][r], zero-padded.
void pack_a(const float* A, int64_t lda, bool ta, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
            float* Ap) {
  for (int64_t s = 0; s < mc; s += MR) {
    const int64_t rows = std::min(MR, mc - s);
    float* dst = Ap + s * kc;
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < rows; ++r) dst[k * MR + r] = at_a(A, lda, ta, i0 + s + r, k0 + k);
      for (int64_t r = rows; r < MR; ++r) dst[k * MR + r] = 0.0f;
    }
  }
}

// Pack depth [k0, k0+kc) × columns [j0, j0+nc) of op(B) into NR-column slivers: Bp[s][k][c].
void pack_b(const float* B, int64_t ldb, bool tb, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
            float* Bp) {
  const int64_t slivers = (nc + NR - 1) / NR;
#pragma omp parallel for schedule(static)
  for (int64_t q = 0; q < slivers; ++q) {
    const int64_t s = q * NR;
    const int64_t cols = std::min(NR, nc - s);
    float* dst = Bp + s * kc;
    for (int64_t k = 0; k < kc; ++k) {
      if (!tb && cols == NR) {
        std::memcpy(dst + k * NR, B + (k0 + k) * ldb + j0 + s, NR * sizeof(float));
      } else {
        for (int64_t c = 0; c < cols; ++c) dst[k * NR + c] = at_b(B, ldb, tb, k0 + k, j0 + s + c);
        for (int64_t c = cols; c < NR; ++c) dst[k * NR + c] = 0.0f;
      }
    }
  }
}

// acc[MR][NR] = Σ_k Ap[k][r] · Bp[k][c]; then C[r][c] += alpha · acc for the valid rows/cols.
inline void micro_kernel(int64_t kc, const float* __restrict Ap, const float* __restrict Bp,
                         float alpha, float* C, int64_t ldc, int64_t rows, int64_t cols) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* b = Bp + k * NR;
    const float* a = Ap + k * MR;
    for (int64_t r = 0; r < MR; ++r) {
      const float ar = a[r];
#pragma omp simd
      for (int64_t c = 0; c < NR; ++c) acc[r][c] += ar * b[c];
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) C[r * ldc + c] += alpha * acc[r][c];
}

}  // namespace

void sgemm_fallback(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                    float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  // C ← beta·C first, so the blocked loop only ever accumulates.
  if (beta != 1.0f) {
#pragma omp parallel for schedule(static) if (M * N > 65536)
    for (int64_t i = 0; i < M; ++i) {
      float* row = C + i * ldc;
      if (beta == 0.0f) {
        std::fill(row, row + N, 0.0f);
      } else {
        for (int64_t j = 0; j < N; ++j) row[j] *= beta;
      }
    }
  }
  if (K <= 0 || alpha == 0.0f) return;

  std::vector<float> Bp(static_cast<size_t>(KC) * ((std::min(NC, N) + NR - 1) / NR * NR));
  for (int64_t j0 = 0; j0 < N; j0 += NC) {
    const int64_t nc = std::min(NC, N - j0);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
      const int64_t kc = std::min(KC, K - k0);
      pack_b(B, ldb, tb, k0, kc, j0, nc, Bp.data());
      const int64_t mblocks = (M + MC - 1) / MC;
      const int64_t nslivers = (nc + NR - 1) / NR;
#pragma omp parallel
      {
        std::vector<float> Ap(static_cast<size_t>(MC) * kc);
        // Split work over (row block, column sliver group) so small M still uses every thread.
        const int64_t ngroups = std::max<int64_t>(1, std::min<int64_t>(nslivers, 8));
        const int64_t per_group = (nslivers + ngroups - 1) / ngroups;
        int64_t packed_block = -1;
#pragma omp for schedule(static) collapse(2)
        for (int64_t ib = 0; ib < mblocks; ++ib) {
          for (int64_t g = 0; g < ngroups; ++g) {
            const int64_t i0 = ib * MC;
            const int64_t mc = std::min(MC, M - i0);
            if (packed_block != ib) {
              pack_a(A, lda, ta, i0, mc, k0, kc, Ap.data());
              packed_block = ib;
            }
            const int64_t q_end = std::min(nslivers, (g + 1) * per_group);
            for (int64_t q = g * per_group; q < q_end; ++q) {
              const int64_t jj = q * NR;
              const int64_t cols = std::min(NR, nc - jj);
              for (int64_t s = 0; s < mc; s += MR) {
                const int64_t rows = std::min(MR, mc - s);
                micro_kernel(kc, Ap.data() + s * kc, Bp.data() + jj * kc, alpha,
                             C + (i0 + s) * ldc + j0 + jj, ldc, rows, cols);
              }
            }
          }
        }
      }
    }
  }
}

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#ifdef RL_HAVE_OPENBLAS
  if (!gemm_use_fallback()) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // cblas may not touch C when K == 0; keep the documented contract
      sgemm_fallback(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
                static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
                static_cast<blasint>(ldc));
    return;
  }
#endif
  sgemm_fallback(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace rl
