// rewardlens: single-precision matrix multiply, row-major, the one primitive every kernel builds on.
#pragma once
#include <cstdint>

namespace rl {

// C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C[M,N], all row-major.
// op(A) = A (A is [M,K], lda >= K) or Aᵀ (A is [K,M], lda >= M); likewise op(B) with ldb.
// beta == 0 overwrites C without reading it (NaNs already in C do not propagate).
// Dispatches to OpenBLAS when linked (and not forced off), else to sgemm_fallback.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// rewardlens's own blocked, packed, OpenMP-parallel GEMM; same contract as sgemm.
void sgemm_fallback(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                    float* C, int64_t ldc);

}  // namespace rl
