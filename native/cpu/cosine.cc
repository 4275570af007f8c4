// Cosine similarity between the rows of A [n1,d] and B [n2,d], reduced tile by tile.
//
// 1. one read-only pass for the inverse row norms ia [n1], ib [n2] (0 for a zero row, so its
//    cosines are 0), which also finds NaN/Inf entries;
// 2. for each tile [i0, i0+tm) × [j0, j0+tn): C = A[i0:] · B[j0:]ᵀ through rl::sgemm, on the rows
//    as given (no copies), into a 4 MiB scratch tile (or straight into the caller's full matrix);
//    rows of extreme norm (outside [1e-15, 1e15]) switch to normalised copies instead;
// 3. reduce the tile straight away, while it is in cache, in one vectorised pass per row: scale it
//    into cosines (c·ia·ib), fold them into the row max and the column maxima, and (rarely, once
//    the heap is full) offer them to the top-k heap. Rows are split over the OpenMP threads when
//    that pays (worth_parallel), each thread keeping its own column maxima and top-k heap; these
//    are merged at the end with a total order (value, then smaller index), so nothing depends on
//    how rows were split over threads.
#include "rewardlens/cosine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "rewardlens/gemm.h"
#include "rewardlens/runtime.h"

namespace rl {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Rows whose norms all lie in this range are multiplied as they are: every dot product and partial
// sum is then at most 1e30 in size (no float32 overflow), and a product lost to underflow (below
// ~1e-38) is negligible next to |a|·|b| ≥ 1e-30. Otherwise normalised copies are multiplied.
constexpr double kRawNormMin = 1e-15;
constexpr double kRawNormMax = 1e15;

// A team of threads is woken for a loop only when splitting it saves at least this many elements
// of work on the calling thread (elements − elements/threads). On the 2-core machine we tuned on,
// waking a team right after an OpenBLAS call costs ~50–100 µs (OpenBLAS's own workers spin for a
// while after each call and compete for the cores), about what 512K elements of these loops take
// on one thread; so there a 1M-element tile breaks even and is reduced on one thread, while on
// machines with more cores the same tile is split.
constexpr int64_t kMinParallelSaved = int64_t{1} << 19;

inline bool worth_parallel(int64_t elems, int threads) {
  return threads > 1 && elems - elems / threads > kMinParallelSaved;
}

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

// One pass over one row of a tile, dot products in, cosines out: v[j] = dot[j]·sa·ib[j]. Returns
// the row's max (kept in kLanes independent lanes, so the loop vectorises without a serial
// dependency through one accumulator); with kStore, writes v back over dot (the caller's full
// matrix); with kCols, folds v into the column maxima cm/ca (a strict >, so among equal values the
// first row seen, the smallest, stays). dot, ib, cm, ca are [tn].
template <bool kStore, bool kCols>
float cosine_row(float* dot, const float* ib, float sa, int64_t tn, float* cm, int32_t* ca,
                 int32_t a) {
  constexpr int64_t kLanes = 32;
  float acc[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) acc[l] = kNegInf;
  int64_t j = 0;
  for (; j + kLanes <= tn; j += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const float v = dot[j + l] * (sa * ib[j + l]);
      if (kStore) dot[j + l] = v;
      acc[l] = v > acc[l] ? v : acc[l];
      if (kCols) {
        const bool better = v > cm[j + l];
        cm[j + l] = better ? v : cm[j + l];
        ca[j + l] = better ? a : ca[j + l];
      }
    }
  }
  float m = kNegInf;
  for (int64_t l = 0; l < kLanes; ++l) m = acc[l] > m ? acc[l] : m;
  for (; j < tn; ++j) {
    const float v = dot[j] * (sa * ib[j]);
    if (kStore) dot[j] = v;
    m = v > m ? v : m;
    if (kCols && v > cm[j]) {
      cm[j] = v;
      ca[j] = a;
    }
  }
  return m;
}

// The cosines of one row of a tile after cosine_row: stored (kStore) or recomputed, bit for bit.
struct RowView {
  const float* dot;  // [tn]
  const float* ib;   // [tn]
  float sa;
  bool stored;
  float at(int64_t j) const { return stored ? dot[j] : dot[j] * (sa * ib[j]); }
};

constexpr int64_t kBlock = 64;  // entries compared at once by the searches below

// Whether some j in [j0, j0 + kBlock) has row.at(j) == v (eq) or row.at(j) >= v (!eq).
bool block_hits(const RowView& row, int64_t j0, float v, bool eq) {
  int hit = 0;
  const float* x = row.dot + j0;  // [kBlock]
  const float* s = row.ib + j0;   // [kBlock]
  if (row.stored) {
#pragma omp simd reduction(| : hit)
    for (int64_t l = 0; l < kBlock; ++l) hit |= eq ? x[l] == v : x[l] >= v;
  } else {
#pragma omp simd reduction(| : hit)
    for (int64_t l = 0; l < kBlock; ++l) {
      const float c = x[l] * (row.sa * s[l]);
      hit |= eq ? c == v : c >= v;
    }
  }
  return hit != 0;
}

// The first j with row.at(j) == v, or tn: whole blocks compared at once, then the hit scanned.
int64_t first_equal(const RowView& row, int64_t tn, float v) {
  int64_t j = 0;
  while (j + kBlock <= tn && !block_hits(row, j, v, true)) j += kBlock;
  while (j < tn && !(row.at(j) == v)) ++j;
  return j;
}

// Offers every entry of the row that can enter the top-k heap; blocks with no entry at or above
// the heap's threshold are skipped after one vector compare.
void offer_row(const RowView& row, int64_t a, int64_t j0, int64_t tn, TopK* top) {
  float thr = top->threshold();
  for (int64_t j = 0; j < tn; j += kBlock) {
    const int64_t end = std::min(tn, j + kBlock);
    if (end - j == kBlock && !block_hits(row, j, thr, false)) continue;
    for (int64_t l = j; l < end; ++l) {
      const float v = row.at(l);
      if (v >= thr) {
        top->offer(a, j0 + l, v);
        thr = top->threshold();
      }
    }
  }
}

// Reduce rows [r0, r1) of one tile. c is the tile: row r holds <A_{i0+r}, B_{j0+j}> at
// c[r*ldc + j], j < tn; ia [n1] and ib [n2] are the inverse row norms that turn it into cosines
// (written back over c when `store`, i.e. when c is the caller's full matrix). row_max/row_arg
// are [n1] (this thread owns rows i0+r0 .. i0+r1-1).
void reduce_tile_rows(float* c, int64_t ldc, int64_t i0, int64_t j0, int64_t tn, int64_t r0,
                      int64_t r1, const float* ia, const float* ib, bool store, float* row_max,
                      int32_t* row_arg, bool do_cols, ThreadPartial* part) {
  const float* ibt = ib + j0;                                        // [tn]
  float* cm = do_cols ? part->col_max.data() + j0 : nullptr;         // [tn]
  int32_t* ca = do_cols ? part->col_arg.data() + j0 : nullptr;       // [tn]
  for (int64_t r = r0; r < r1; ++r) {
    float* dot = c + r * ldc;  // [tn]
    const int64_t a = i0 + r;
    const float sa = ia[a];
    const int32_t a32 = static_cast<int32_t>(a);

    // Columns: this thread sees its rows in increasing a (strict > keeps the smallest a).
    const float m = store ? (do_cols ? cosine_row<true, true>(dot, ibt, sa, tn, cm, ca, a32)
                                     : cosine_row<true, false>(dot, ibt, sa, tn, cm, ca, a32))
                          : (do_cols ? cosine_row<false, true>(dot, ibt, sa, tn, cm, ca, a32)
                                     : cosine_row<false, false>(dot, ibt, sa, tn, cm, ca, a32));
    const RowView row{dot, ibt, sa, store};

    // Row: tiles arrive in increasing j0, so a strict > keeps the smallest index among equal maxima.
    if (m > row_max[a]) {
      const int64_t jm = first_equal(row, tn, m);
      if (jm < tn) {
        row_max[a] = m;
        row_arg[a] = static_cast<int32_t>(j0 + jm);
      }
    }

    // Top-k: only rows whose max can still enter the heap are scanned.
    if (part->top.k > 0 && m >= part->top.threshold()) offer_row(row, a, j0, tn, &part->top);
  }
}

// Split `n` into the fewest pieces of at most `cap`, of near-equal size; returns the piece size.
int64_t balanced_piece(int64_t n, int64_t cap) {
  const int64_t pieces = (n + cap - 1) / cap;
  return (n + pieces - 1) / pieces;
}

// What a pass over the rows of X found (see inverse_norms).
struct NormScan {
  int64_t first_bad = -1;  // flat index of the first NaN/±Inf entry, or -1
  bool raw_ok = true;      // every non-zero row norm lies in [kRawNormMin, kRawNormMax]
};

// inv[i] = 1/|X_i| (0 for a zero row), norms accumulated in double. X is [n,d], inv is [n].
// The finiteness check is free: a row's sum of squares in double (at most 2^31 · (2^128)^2) is
// finite exactly when every entry is.
NormScan inverse_norms(float* inv, const float* X, int64_t n, int64_t d) {
  int64_t first_bad_row = n;
  int raw_ok = 1;
  const int nt = num_threads();
#pragma omp parallel for schedule(static) reduction(min : first_bad_row) reduction(&& : raw_ok) \
    num_threads(nt) if (worth_parallel(n * d, nt))
  for (int64_t i = 0; i < n; ++i) {
    const float* x = X + i * d;  // [d]
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < d; ++k) s += static_cast<double>(x[k]) * x[k];
    if (!std::isfinite(s)) first_bad_row = std::min(first_bad_row, i);
    const double norm = std::sqrt(s);
    if (s > 0.0 && !(norm >= kRawNormMin && norm <= kRawNormMax)) raw_ok = 0;
    inv[i] = s > 0.0 ? static_cast<float>(1.0 / norm) : 0.0f;
  }
  NormScan scan;
  scan.raw_ok = raw_ok != 0;
  if (first_bad_row < n) {
    scan.first_bad = first_bad_row * d;
    for (int64_t k = 0; k < d; ++k) {
      if (!std::isfinite(X[first_bad_row * d + k])) {
        scan.first_bad = first_bad_row * d + k;
        break;
      }
    }
  }
  return scan;
}

// "NaN", "Infinity", "-Infinity" as JavaScript prints them.
std::string js_number(float v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return std::to_string(v);
}

// The same message as src/validate.ts checkFinite.
Status non_finite(const char* name, const float* x, int64_t at) {
  return Status::Invalid(std::string("Expected finite values in ") + name + " for " + name +
                         " but received " + js_number(x[at]) + " at index " + std::to_string(at));
}

Status cosine_stats_impl(const float* A, int64_t n1, const float* B, int64_t n2, int64_t d,
                         const CosineOutputs& out) {
  // Inverse row norms; the rows themselves go to the GEMM as they are.
  std::vector<float> ia(static_cast<size_t>(n1));  // [n1]
  std::vector<float> ib(static_cast<size_t>(n2));  // [n2]
  const NormScan scan_a = inverse_norms(ia.data(), A, n1, d);
  if (scan_a.first_bad >= 0) return non_finite("A", A, scan_a.first_bad);
  const NormScan scan_b = inverse_norms(ib.data(), B, n2, d);
  if (scan_b.first_bad >= 0) return non_finite("B", B, scan_b.first_bad);

  // Rows of extreme norm: multiply normalised copies instead, and scale the products by 1
  // (0 for zero rows, whose copies are zero anyway).
  const float* Ag = A;  // [n1,d] what the GEMM multiplies
  const float* Bg = B;  // [n2,d]
  std::vector<float> An, Bn;
  if (!scan_a.raw_ok || !scan_b.raw_ok) {
    An.resize(static_cast<size_t>(n1 * d));
    Bn.resize(static_cast<size_t>(n2 * d));
    normalize_rows(An.data(), A, n1, d);
    normalize_rows(Bn.data(), B, n2, d);
    Ag = An.data();
    Bg = Bn.data();
    for (float& x : ia) x = x > 0.0f ? 1.0f : 0.0f;
    for (float& x : ib) x = x > 0.0f ? 1.0f : 0.0f;
  }

  // Tile shape (see cosine.h): tn ≤ kCosineTileCols rows of B, tm rows of A so tm·tn ≈ 4 MiB.
  const int64_t tn = balanced_piece(n2, kCosineTileCols);
  const int64_t tm = balanced_piece(
      n1, std::max(kCosineTileMinRows, kCosineTileElems / std::max<int64_t>(tn, 1)));
  std::unique_ptr<float[]> scratch;  // [tm,tn], unused when the caller wants the full matrix
  if (out.full == nullptr) scratch.reset(new float[static_cast<size_t>(tm * tn)]);  // not zeroed

  std::vector<float> row_max_buf;
  std::vector<int32_t> row_arg_buf;
  float* row_max = out.row_max;       // [n1]
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
  // rl::num_threads(), not the calling thread's OpenMP default: this may run on a libuv worker.
  const int nt = std::max(1, num_threads());
  std::vector<ThreadPartial> parts(static_cast<size_t>(nt));
  for (auto& p : parts) {
    if (do_cols) {
      p.col_max.assign(static_cast<size_t>(n2), kNegInf);
      p.col_arg.assign(static_cast<size_t>(n2), 0);
    }
    p.top.k = out.top_k;
    // Reserved here: nothing may allocate (and so throw) inside the parallel regions below.
    p.top.heap.reserve(static_cast<size_t>(out.top_k));
  }

  for (int64_t i0 = 0; i0 < n1; i0 += tm) {
    const int64_t mi = std::min(tm, n1 - i0);
    for (int64_t j0 = 0; j0 < n2; j0 += tn) {
      const int64_t nj = std::min(tn, n2 - j0);
      float* c = out.full ? out.full + i0 * n2 + j0 : scratch.get();  // [mi,nj], row stride ldc
      const int64_t ldc = out.full ? n2 : nj;
      sgemm(false, true, mi, nj, d, 1.0f, Ag + i0 * d, d, Bg + j0 * d, d, 0.0f, c, ldc);
      // Rows of the tile split into nt contiguous ranges; range t goes to thread t.
      const bool par = worth_parallel(mi * nj, nt);
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
        reduce_tile_rows(c, ldc, i0, j0, nj, r0, r1, ia.data(), ib.data(), out.full != nullptr,
                         row_max, row_arg, do_cols, &parts[static_cast<size_t>(t)]);
      }
    }
  }

  // Merge the per-thread columns: larger value, then smaller row index.
  if (do_cols) {
#pragma omp parallel for schedule(static) num_threads(nt) if (worth_parallel(n2 * nt, nt))
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
  const int nt = num_threads();
#pragma omp parallel for schedule(static) num_threads(nt) if (worth_parallel(n * d, nt))
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
  if (out.full) {
    // The GEMM writes the matrix while it reads A and B: they must not share memory.
    const auto overlaps = [&](const float* x, int64_t n) {
      const auto lo = reinterpret_cast<uintptr_t>(out.full);
      const auto hi = reinterpret_cast<uintptr_t>(out.full + n1 * n2);
      return reinterpret_cast<uintptr_t>(x) < hi && lo < reinterpret_cast<uintptr_t>(x + n);
    };
    RL_CHECK_ARG(!overlaps(A, n1 * d) && !overlaps(B, n2 * d), "cosine: full must not overlap A or B");
  }
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
