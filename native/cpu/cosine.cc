// Cosine similarity between the rows of A [n1,d] and B [n2,d], reduced tile by tile.
//
// 1. normalise the rows of A and B once (An, Bn; a zero row stays zero, so its cosines are 0);
// 2. for each tile [i0, i0+tm) × [j0, j0+tn): C = An[i0:] · Bn[j0:]ᵀ through rl::sgemm, into a
//    2 MiB scratch tile (or straight into the caller's full matrix when one is asked for);
// 3. reduce the tile at once, its rows split over the OpenMP threads: the row max/argmax, per-thread
//    column max/argmax, per-thread top-k heaps. Partial results are merged at the end with a total
//    order (value, then smaller index), so nothing depends on how rows were split over threads.
#include "rewardlens/cosine.h"

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

#include "rewardlens/gemm.h"

namespace rl {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The order of the top-k list: larger cos first, then smaller a, then smaller b.
inline bool ranks_before(const CosinePair& x, const CosinePair& y) {
  if (x.cos != y.cos) return x.cos > y.cos;
  if (x.a != y.a) return x.a < y.a;
  return x.b < y.b;
}

// The k best pairs seen so far, as a heap whose front is the worst of them.
struct TopK {
  int64_t k = 0;
  std::vector<CosinePair> heap;

  // Entries below this cannot enter (equal ones may, on the index tie-break).
  float threshold() const {
    return static_cast<int64_t>(heap.size()) < k ? kNegInf : heap.front().cos;
  }
  void offer(int64_t a, int64_t b, float cos) {
    const CosinePair p{a, b, cos};
    if (static_cast<int64_t>(heap.size()) < k) {
      heap.push_back(p);
      std::push_heap(heap.begin(), heap.end(), ranks_before);
    } else if (ranks_before(p, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), ranks_before);
      heap.back() = p;
      std::push_heap(heap.begin(), heap.end(), ranks_before);
    }
  }
};

// Per-thread partial results: column maxima over the rows this thread reduced, and its top-k.
struct ThreadPartial {
  std::vector<float> col_max;    // [n2]
  std::vector<int32_t> col_arg;  // [n2]
  TopK top;
};

// Reduce rows [r0, r1) of one tile. c is the tile: row r holds cos(A_{i0+r}, B_{j0+j}) at
// c[r*ldc + j], j < tn. row_max/row_arg are [n1] (this thread owns rows i0+r0 .. i0+r1-1).
void reduce_tile_rows(const float* c, int64_t ldc, int64_t i0, int64_t j0, int64_t tn, int64_t r0,
                      int64_t r1, float* row_max, int32_t* row_arg, bool do_cols,
                      ThreadPartial* part) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* row = c + r * ldc;  // [tn]
    const int64_t a = i0 + r;

    // Row: the max within this tile; tiles arrive in increasing j0, so a strict > keeps the
    // smallest index among equal maxima.
    float m = kNegInf;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < tn; ++j) m = std::max(m, row[j]);
    if (m > row_max[a]) {
      int64_t jm = 0;
      while (jm < tn && !(row[jm] == m)) ++jm;
      if (jm < tn) {
        row_max[a] = m;
        row_arg[a] = static_cast<int32_t>(j0 + jm);
      }
    }

    // Columns: this thread sees its rows in increasing a, so a strict > keeps the smallest a.
    if (do_cols) {
      float* cm = part->col_max.data() + j0;    // [tn]
      int32_t* ca = part->col_arg.data() + j0;  // [tn]
      const int32_t a32 = static_cast<int32_t>(a);
#pragma omp simd
      for (int64_t j = 0; j < tn; ++j) {
        const bool better = row[j] > cm[j];
        cm[j] = better ? row[j] : cm[j];
        ca[j] = better ? a32 : ca[j];
      }
    }

    // Top-k: only rows whose max can still enter the heap are scanned.
    TopK& top = part->top;
    if (top.k > 0 && m >= top.threshold()) {
      float thr = top.threshold();
      for (int64_t j = 0; j < tn; ++j) {
        if (row[j] >= thr) {
          top.offer(a, j0 + j, row[j]);
          thr = top.threshold();
        }
      }
    }
  }
}

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Split `n` into the fewest pieces of at most `cap`, of near-equal size; returns the piece size.
int64_t balanced_piece(int64_t n, int64_t cap) {
  const int64_t pieces = (n + cap - 1) / cap;
  return (n + pieces - 1) / pieces;
}

Status cosine_stats_impl(const float* A, int64_t n1, const float* B, int64_t n2, int64_t d,
                         const CosineOutputs& out) {
  // Normalised copies.
  std::vector<float> An(static_cast<size_t>(n1 * d));  // [n1,d]
  std::vector<float> Bn(static_cast<size_t>(n2 * d));  // [n2,d]
  normalize_rows(An.data(), A, n1, d);
  normalize_rows(Bn.data(), B, n2, d);

  // Tile shape (see cosine.h): tn ≤ kCosineTileCols rows of B, tm rows of A so tm·tn ≈ 2 MiB.
  const int64_t tn = balanced_piece(n2, kCosineTileCols);
  const int64_t tm = balanced_piece(
      n1, std::max(kCosineTileMinRows, kCosineTileElems / std::max<int64_t>(tn, 1)));
  std::vector<float> scratch;  // [tm,tn], unused when the caller wants the full matrix
  if (out.full == nullptr) scratch.resize(static_cast<size_t>(tm * tn));

  std::vector<float> row_max_buf;
  std::vector<int32_t> row_arg_buf;
  float* row_max = out.row_max;      // [n1]
  int32_t* row_arg = out.row_argmax;  // [n1]
  if (row_max == nullptr) {
    row_max_buf.resize(static_cast<size_t>(n1));
    row_max = row_max_buf.data();
  }
  if (row_arg == nullptr) {
    row_arg_buf.resize(static_cast<size_t>(n1));
    row_arg = row_arg_buf.data();
  }
  std::fill(row_max, row_max + n1, kNegInf);
  std::fill(row_arg, row_arg + n1, 0);

  const bool do_cols = out.col_max != nullptr || out.col_argmax != nullptr;
  const int nt = std::max(1, max_threads());
  std::vector<ThreadPartial> parts(static_cast<size_t>(nt));
  for (auto& p : parts) {
    if (do_cols) {
      p.col_max.assign(static_cast<size_t>(n2), kNegInf);
      p.col_arg.assign(static_cast<size_t>(n2), 0);
    }
    p.top.k = out.top_k;
  }

  for (int64_t i0 = 0; i0 < n1; i0 += tm) {
    const int64_t mi = std::min(tm, n1 - i0);
    for (int64_t j0 = 0; j0 < n2; j0 += tn) {
      const int64_t nj = std::min(tn, n2 - j0);
      float* c = out.full ? out.full + i0 * n2 + j0 : scratch.data();  // [mi,nj], row stride ldc
      const int64_t ldc = out.full ? n2 : nj;
      sgemm(false, true, mi, nj, d, 1.0f, An.data() + i0 * d, d, Bn.data() + j0 * d, d, 0.0f, c,
            ldc);
      // Rows of the tile split into nt contiguous ranges; range t goes to thread t.
      const bool par = nt > 1 && mi * nj >= 16384;
#pragma omp parallel num_threads(nt) if (par)
      {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
        const int got = omp_get_num_threads();
#else
        const int t = 0;
        const int got = 1;
#endif
        const int64_t r0 = mi * t / got;
        const int64_t r1 = mi * (t + 1) / got;
        reduce_tile_rows(c, ldc, i0, j0, nj, r0, r1, row_max, row_arg, do_cols,
                         &parts[static_cast<size_t>(t)]);
      }
    }
  }

  // Merge the per-thread columns: larger value, then smaller row index.
  if (do_cols) {
#pragma omp parallel for schedule(static) if (n2 * nt >= 65536)
    for (int64_t j = 0; j < n2; ++j) {
      float best = parts[0].col_max[static_cast<size_t>(j)];
      int32_t arg = parts[0].col_arg[static_cast<size_t>(j)];
      for (int t = 1; t < nt; ++t) {
        const float v = parts[static_cast<size_t>(t)].col_max[static_cast<size_t>(j)];
        const int32_t i = parts[static_cast<size_t>(t)].col_arg[static_cast<size_t>(j)];
        if (v > best || (v == best && i < arg)) {
          best = v;
          arg = i;
        }
      }
      if (out.col_max) out.col_max[j] = best;
      if (out.col_argmax) out.col_argmax[j] = arg;
    }
  }

  // Merge the per-thread top-k candidates: sort them all by the total order, keep k.
  if (out.top_k > 0) {
    std::vector<CosinePair> all;
    for (auto& p : parts) all.insert(all.end(), p.top.heap.begin(), p.top.heap.end());
    const int64_t k = std::min<int64_t>(out.top_k, static_cast<int64_t>(all.size()));
    std::partial_sort(all.begin(), all.begin() + k, all.end(), ranks_before);
    std::copy(all.begin(), all.begin() + k, out.top);
  }

  if (out.mmcs) {
    double s = 0.0;
    for (int64_t i = 0; i < n1; ++i) s += row_max[i];
    *out.mmcs = s / static_cast<double>(n1);
  }
  return Status::Ok();
}

Status check_shapes(const float* A, int64_t n1, const float* B, int64_t n2, int64_t d) {
  RL_CHECK_ARG(A != nullptr && B != nullptr, "cosine: A and B must not be null");
  RL_CHECK_ARG(d >= 1, "cosine: expected d >= 1 but received " + std::to_string(d));
  RL_CHECK_ARG(n1 >= 1 && n1 <= INT32_MAX,
               "cosine: expected 1 <= n1 < 2^31 but received " + std::to_string(n1));
  RL_CHECK_ARG(n2 >= 1 && n2 <= INT32_MAX,
               "cosine: expected 1 <= n2 < 2^31 but received " + std::to_string(n2));
  RL_CHECK_ARG(n1 <= INT64_MAX / d && n2 <= INT64_MAX / d && n1 <= INT64_MAX / n2,
               "cosine: n1·d, n2·d or n1·n2 overflows");
  return Status::Ok();
}

}  // namespace

void normalize_rows(float* out, const float* inp, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) if (n * d >= 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float* x = inp + i * d;  // [d]
    float* y = out + i * d;        // [d]
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < d; ++k) s += static_cast<double>(x[k]) * x[k];
    // In double: 1/|x| can overflow a float for tiny rows, x·(1/|x|) cannot.
    const double inv = s > 0.0 ? 1.0 / std::sqrt(s) : 0.0;
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) y[k] = static_cast<float>(x[k] * inv);
  }
}

Status cosine_stats(const float* A, int64_t n1, const float* B, int64_t n2, int64_t d,
                    const CosineOutputs& out) {
  RL_RETURN_IF_ERROR(check_shapes(A, n1, B, n2, d));
  RL_CHECK_ARG(out.top_k >= 0 && out.top_k <= n1 * n2,
               "cosine: expected 0 <= top_k <= n1·n2 = " + std::to_string(n1 * n2) +
                   " but received " + std::to_string(out.top_k));
  RL_CHECK_ARG(out.top_k == 0 || out.top != nullptr, "cosine: top must not be null when top_k > 0");
  try {
    return cosine_stats_impl(A, n1, B, n2, d, out);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("cosine: out of memory (n1=" + std::to_string(n1) +
                               ", n2=" + std::to_string(n2) + ", d=" + std::to_string(d) + ")");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("cosine: ") + e.what());
  }
}

Status mmcs(const float* A, int64_t n1, const float* B, int64_t n2, int64_t d, double* result) {
  RL_CHECK_ARG(result != nullptr, "mmcs: result must not be null");
  CosineOutputs out;
  out.mmcs = result;
  return cosine_stats(A, n1, B, n2, d, out);
}

}  // namespace rl
