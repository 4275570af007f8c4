// Threading helpers shared by the CPU kernels (internal: not part of the public API).
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace rl {

// Below this many elements a pass runs on one thread (a parallel region costs microseconds).
constexpr int64_t kMinParallelWork = 32768;

inline int threads_for(int64_t work) {
#ifdef _OPENMP
  return work < kMinParallelWork ? 1 : omp_get_max_threads();
#else
  (void)work;
  return 1;
#endif
}
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
inline int thread_count() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

// Columns [lo, hi) of `total` owned by thread `tid` of `nt`, in whole cache lines of floats, so
// that passes reducing over rows into per-column sums never share a line between threads.
inline void column_block(int64_t total, int tid, int nt, int64_t* lo, int64_t* hi) {
  int64_t per = (total + nt - 1) / nt;
  per = (per + 15) / 16 * 16;
  *lo = std::min(total, per * tid);
  *hi = std::min(total, *lo + per);
}

}  // namespace rl
