// Binding: library settings and the raw GEMM (exposed so tests can check both GEMM backends).
#include <napi.h>

#include "napi_util.h"
#include "rewardlens/gemm.h"
#include "rewardlens/runtime.h"

namespace rl_napi {

namespace {

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), rl::version()); }
Napi::Value GemmBackend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), rl::gemm_backend());
}
Napi::Value HasOpenblas(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), rl::has_openblas());
}
Napi::Value ForceFallbackGemm(const Napi::CallbackInfo& info) {
  rl::force_fallback_gemm(GetBool(info[0], "on"));
  return info.Env().Undefined();
}
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  rl::set_num_threads(static_cast<int>(GetInt(info[0], "threads", 0, 4096)));
  return info.Env().Undefined();
}
Napi::Value NumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), rl::num_threads());
}

// sgemm(transA, transB, M, N, K, alpha, A, B, beta, C): dense row-major, lda/ldb/ldc = row widths.
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool ta = GetBool(info[0], "transA");
  const bool tb = GetBool(info[1], "transB");
  const int64_t M = GetInt(info[2], "M", 0, INT32_MAX);
  const int64_t N = GetInt(info[3], "N", 0, INT32_MAX);
  const int64_t K = GetInt(info[4], "K", 0, INT32_MAX);
  const float alpha = static_cast<float>(GetNumber(info[5], "alpha"));
  auto A = GetF32(info[6], "A", M * K);
  auto B = GetF32(info[7], "B", K * N);
  const float beta = static_cast<float>(GetNumber(info[8], "beta"));
  auto C = GetF32(info[9], "C", M * N);
  rl::sgemm(ta, tb, M, N, K, alpha, A.data, ta ? M : K, B.data, tb ? K : N, beta, C.data, N);
  return env.Undefined();
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("gemmBackend", Napi::Function::New(env, GemmBackend));
  exports.Set("hasOpenblas", Napi::Function::New(env, HasOpenblas));
  exports.Set("forceFallbackGemm", Napi::Function::New(env, ForceFallbackGemm));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
}

}  // namespace rl_napi
