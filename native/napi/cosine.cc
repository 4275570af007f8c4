// Binding for the cosine kernels: cosineStats (Promise), cosineStatsSync, mmcs (Promise).
// Inputs are borrowed without copies (and kept alive while a worker runs); outputs are typed
// arrays allocated here, on the JS thread, before the work starts.
#include <napi.h>

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "napi_util.h"
#include "rewardlens/cosine.h"

namespace rl_napi {

namespace {

// Checked arguments of one cosineStats call: plain data only, safe to read on a worker thread.
struct CosineCall {
  const float* A = nullptr;
  const float* B = nullptr;
  int64_t n1 = 0, n2 = 0, d = 0;
  rl::CosineOutputs out;
  std::shared_ptr<std::vector<rl::CosinePair>> top;
  std::shared_ptr<double> mmcs;
};

// Rows of a [rows,d] Float32Array argument; RangeError unless its length is a positive multiple of d.
int64_t RowsOf(Napi::Env env, const View<float, napi_float32_array>& v, const char* name, int64_t d) {
  if (v.length == 0 || v.length % static_cast<size_t>(d) != 0) {
    ThrowRange(env, std::string("Expected Float32Array of shape [rows,") + std::to_string(d) +
                        "] with rows >= 1 for " + name + " but received length " +
                        std::to_string(v.length));
  }
  return static_cast<int64_t>(v.length) / d;
}

// (A, B, d[, topK[, full]]): topK defaults to 10 (clamped to n1·n2), full to none. `result` gets
// the output arrays { rowMax, rowArgmax, colMax, colArgmax, full? }; Finish adds the rest.
CosineCall Prepare(const Napi::CallbackInfo& info, bool stats, Napi::Object* result) {
  Napi::Env env = info.Env();
  CosineCall call;
  auto A = GetF32(info[0], "A");
  auto B = GetF32(info[1], "B");
  call.d = GetInt(info[2], "d", 1, INT32_MAX);
  call.n1 = RowsOf(env, A, "A", call.d);
  call.n2 = RowsOf(env, B, "B", call.d);
  call.A = A.data;
  call.B = B.data;
  call.mmcs = std::make_shared<double>(0.0);
  call.top = std::make_shared<std::vector<rl::CosinePair>>();
  call.out.mmcs = call.mmcs.get();
  if (!stats) return call;

  const int64_t cells = call.n1 * call.n2;
  call.out.top_k = info.Length() > 3 && !info[3].IsUndefined()
                       ? GetInt(info[3], "topK", 0, cells)
                       : std::min<int64_t>(10, cells);
  try {
    call.top->resize(static_cast<size_t>(call.out.top_k));
  } catch (const std::bad_alloc&) {  // a C++ exception other than Napi::Error would abort
    throw Napi::Error::New(env, "cosine: out of memory for topK = " + std::to_string(call.out.top_k));
  }
  call.out.top = call.top->data();
  if (info.Length() > 4 && !info[4].IsUndefined() && !info[4].IsNull()) {
    auto full = GetF32(info[4], "full", cells);
    call.out.full = full.data;
    result->Set("full", info[4]);
  }
  auto rowMax = Napi::Float32Array::New(env, static_cast<size_t>(call.n1));
  auto rowArgmax = Napi::Int32Array::New(env, static_cast<size_t>(call.n1));
  auto colMax = Napi::Float32Array::New(env, static_cast<size_t>(call.n2));
  auto colArgmax = Napi::Int32Array::New(env, static_cast<size_t>(call.n2));
  call.out.row_max = rowMax.Data();
  call.out.row_argmax = rowArgmax.Data();
  call.out.col_max = colMax.Data();
  call.out.col_argmax = colArgmax.Data();
  result->Set("rowMax", rowMax);
  result->Set("rowArgmax", rowArgmax);
  result->Set("colMax", colMax);
  result->Set("colArgmax", colArgmax);
  return call;
}

// Adds mmcs and the top-k list (as three parallel typed arrays topA, topB, topCos) to the result.
Napi::Value Finish(Napi::Env env, const CosineCall& call, Napi::Object result) {
  const size_t k = call.top->size();
  auto topA = Napi::Int32Array::New(env, k);
  auto topB = Napi::Int32Array::New(env, k);
  auto topCos = Napi::Float32Array::New(env, k);
  for (size_t i = 0; i < k; ++i) {
    const rl::CosinePair& p = (*call.top)[i];
    topA[i] = static_cast<int32_t>(p.a);
    topB[i] = static_cast<int32_t>(p.b);
    topCos[i] = p.cos;
  }
  result.Set("topA", topA);
  result.Set("topB", topB);
  result.Set("topCos", topCos);
  result.Set("mmcs", Napi::Number::New(env, *call.mmcs));
  return result;
}

// cosineStats(A, B, d, topK?, full?) → Promise<result>
Napi::Value CosineStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  CosineCall call = Prepare(info, true, &result);
  std::vector<Napi::Value> keep{info[0], info[1], result};
  // The result object outlives this call's handle scope through a reference (released on the JS
  // thread, where the worker and its callbacks are destroyed).
  auto ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(result));
  return PromiseWorker::Run(
      env, std::move(keep),
      [call]() { return rl::cosine_stats(call.A, call.n1, call.B, call.n2, call.d, call.out); },
      [call, ref](Napi::Env e) { return Finish(e, call, ref->Value()); });
}

// cosineStatsSync(A, B, d, topK?, full?) → result
Napi::Value CosineStatsSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  CosineCall call = Prepare(info, true, &result);
  ThrowIfError(env, rl::cosine_stats(call.A, call.n1, call.B, call.n2, call.d, call.out));
  return Finish(env, call, result);
}

// mmcs(A, B, d) → Promise<number>
Napi::Value Mmcs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CosineCall call = Prepare(info, false, nullptr);
  return PromiseWorker::Run(
      env, {info[0], info[1]},
      [call]() { return rl::mmcs(call.A, call.n1, call.B, call.n2, call.d, call.mmcs.get()); },
      [call](Napi::Env e) { return Napi::Number::New(e, *call.mmcs); });
}

}  // namespace

void InitCosine(Napi::Env env, Napi::Object exports) {
  exports.Set("cosineStats", Napi::Function::New(env, CosineStats));
  exports.Set("cosineStatsSync", Napi::Function::New(env, CosineStatsSync));
  exports.Set("mmcs", Napi::Function::New(env, Mmcs));
}

}  // namespace rl_napi
