// rewardlens: cosine similarity between two sets of row vectors, reduced while streaming.
//
// cos(a, b) = <a, b> / (|a| |b|) for every row a of A [n1,d] and row b of B [n2,d]. A row whose
// norm is 0 is defined to have cosine 0 with every row (including another zero row), so the
// matrix is always finite for finite inputs. A·Bᵀ is computed a tile at a time through rl::sgemm
// (on the rows as given; on normalised copies when some row norm is outside [1e-15, 1e15]), and
// each tile is scaled by the inverse norms and reduced while it is still in cache; the n1×n2
// matrix is never held unless the caller passes a buffer for it.
//
// Reductions (all deterministic whatever the thread count; ties go to the smallest index):
//   row_max[i], row_argmax[i]  max over B's rows of cos(A_i, B_j), and the j attaining it
//   col_max[j], col_argmax[j]  max over A's rows of cos(A_i, B_j), and the i attaining it
//   top[0..k)                  the k largest entries of the whole matrix as (a, b, cos), sorted by
//                              cos descending, then a ascending, then b ascending
//   mmcs                       mean over i of row_max[i] (the paper's Eq. 2, A = D, B = D′)
// Values come from float32 arithmetic and can exceed 1 by a few ulps (they are not clamped).
//
// Memory: O(n1 + n2) for the inverse norms (plus O((n1 + n2)·d) for normalised copies, only for
// rows of extreme norm), O(threads·n2) for per-thread column maxima, one tile of about
// kCosineTileElems floats, and O(threads·top_k) for the top-k candidates.
// Determinism: the reductions never depend on the thread count. The GEMM under them does with
// OpenBLAS, which splits its work by thread count and can round a cosine differently in the last
// bit; rewardlens's own GEMM (force_fallback_gemm) is bitwise the same on any thread count.
#pragma once
#include <cstdint>

#include "rewardlens/status.h"

namespace rl {

// Tile of A·Bᵀ reduced at once: up to kCosineTileCols rows of B, and as many rows of A as keep the
// tile near kCosineTileElems floats (4 MiB: two cores' L2, an eighth of the L3 of the machine we
// tuned on; the reduction reads it straight after the GEMM wrote it), at least kCosineTileMinRows;
// both counts are then balanced over the tiles. E.g. n1 × n2 = 4096 × 8192 → 8 × 4 tiles of
// 512 × 2048; 512 × 1024 or 1024 × 512 → one tile; 1500 × 2500 → 2 × 2 tiles of 750 × 1250.
// (2 MiB tiles cost 3% more at 4096 × 8192 × 512: more, smaller GEMM calls; 8 MiB gained nothing.)
constexpr int64_t kCosineTileElems = int64_t{1} << 20;
constexpr int64_t kCosineTileCols = 2048;
constexpr int64_t kCosineTileMinRows = 64;

// One entry of the top-k list.
struct CosinePair {
  int64_t a;  // row of A
  int64_t b;  // row of B
  float cos;  // cos(A_a, B_b)
};

// Where cosine_stats writes its results. Any pointer may be null to skip that output (a null
// col_max and col_argmax skip the column reductions; top_k = 0 skips the top-k search).
struct CosineOutputs {
  float* row_max = nullptr;       // [n1]
  int32_t* row_argmax = nullptr;  // [n1]
  float* col_max = nullptr;       // [n2]
  int32_t* col_argmax = nullptr;  // [n2]
  CosinePair* top = nullptr;      // [top_k], required when top_k > 0
  int64_t top_k = 0;              // 0 ≤ top_k ≤ n1·n2
  double* mmcs = nullptr;         // scalar
  float* full = nullptr;          // [n1,n2] the whole cosine matrix, written only when non-null
};

// out[n,d] = inp[n,d] with every row scaled to unit L2 norm (norms accumulated in double);
// a zero row stays zero. out may equal inp.
void normalize_rows(float* out, const float* inp, int64_t n, int64_t d);

// A is [n1,d], B is [n2,d], both row-major; n1, n2 < 2^31, d ≥ 1; out.full, when given, must not
// overlap A or B. A NaN or ±Inf entry is an invalid argument (found by the pass that computes the
// row norms, at no extra cost; the message names the matrix and the flat index of its first such
// entry).
Status cosine_stats(const float* A, int64_t n1, const float* B, int64_t n2, int64_t d,
                    const CosineOutputs& out);

// MMCS(A, B) = mean over A's rows of the max cosine to any row of B (Eq. 2). Not symmetric.
Status mmcs(const float* A, int64_t n1, const float* B, int64_t n2, int64_t d, double* result);

}  // namespace rl
