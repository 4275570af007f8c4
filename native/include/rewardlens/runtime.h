// rewardlens: library-wide settings (threads, GEMM backend) and build information.
#pragma once
#include <cstdint>

namespace rl {

// Library version, "MAJOR.MINOR.PATCH".
const char* version();

// Threads used by rewardlens's own loops (OpenMP) and by OpenBLAS. 0 = one per core.
void set_num_threads(int n);
int num_threads();
// OpenMP's thread count is a per-thread setting: a host that runs rewardlens calls on threads of
// its own (the Node binding's worker pool) calls this first on each, so set_num_threads holds there.
void apply_thread_settings();

// Which matrix-multiply implementation is in use: "openblas" or "fallback".
const char* gemm_backend();
// True when this build was linked against OpenBLAS.
bool has_openblas();
// Force rewardlens's own GEMM even in an OpenBLAS build (tests use it to check the fallback).
void force_fallback_gemm(bool on);

}  // namespace rl
