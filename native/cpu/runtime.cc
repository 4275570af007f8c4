// Library-wide settings: thread counts and the GEMM backend switch.
#include "rewardlens/runtime.h"

#include <atomic>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef RL_HAVE_OPENBLAS
extern "C" void openblas_set_num_threads(int);
#endif

namespace rl {

namespace {
std::atomic<bool> g_force_fallback{false};
std::atomic<int> g_threads{0};
}  // namespace

// Read by gemm.cc.
bool gemm_use_fallback() {
#ifdef RL_HAVE_OPENBLAS
  return g_force_fallback.load(std::memory_order_relaxed);
#else
  return true;
#endif
}

const char* version() { return "0.1.0"; }

void set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  g_threads.store(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
#ifdef RL_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#endif
}

int num_threads() {
  int n = g_threads.load();
  if (n > 0) return n;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void apply_thread_settings() {
#ifdef _OPENMP
  const int n = g_threads.load();
  if (n > 0) omp_set_num_threads(n);
#endif
}

const char* gemm_backend() { return gemm_use_fallback() ? "fallback" : "openblas"; }

bool has_openblas() {
#ifdef RL_HAVE_OPENBLAS
  return true;
#else
  return false;
#endif
}

void force_fallback_gemm(bool on) { g_force_fallback.store(on); }

}  // namespace rl
