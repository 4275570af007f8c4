// Helpers shared by every binding file: argument checks that name the argument, a Promise-returning
// AsyncWorker that keeps the JS buffers it borrows alive, and Status → JS error conversion.
// Validation with full shape messages happens in TypeScript first (src/validate.ts); these checks
// are the last line, so that a direct call of the raw binding can never crash the process.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rewardlens/runtime.h"
#include "rewardlens/status.h"

namespace rl_napi {

// Throw a JS TypeError / RangeError (C++ exceptions are enabled: node-addon-api turns them into JS).
[[noreturn]] inline void ThrowType(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
[[noreturn]] inline void ThrowRange(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

inline const char* TypedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: break;
  }
  return "TypedArray";
}

inline std::string Describe(const Napi::Value& v) {
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    return std::string(TypedArrayName(ta.TypedArrayType())) + " of length " +
           std::to_string(ta.ElementLength());
  }
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "number " + std::to_string(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "string";
  if (v.IsBoolean()) return "boolean";
  if (v.IsArray()) return "Array";
  if (v.IsFunction()) return "function";
  return "object";
}

// A typed array argument viewed without copying. `expected` < 0 accepts any length.
template <typename T, napi_typedarray_type kType>
struct View {
  T* data = nullptr;
  size_t length = 0;
};

template <typename T, napi_typedarray_type kType>
View<T, kType> GetTyped(const Napi::Value& v, const char* name, int64_t expected) {
  Napi::Env env = v.Env();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    ThrowType(env, std::string("Expected ") + TypedArrayName(kType) + " for " + name +
                       " but received " + Describe(v));
  }
  auto ta = v.As<Napi::TypedArray>();
  if (expected >= 0 && ta.ElementLength() != static_cast<size_t>(expected)) {
    ThrowRange(env, std::string("Expected ") + TypedArrayName(kType) + " of length " +
                        std::to_string(expected) + " for " + name + " but received length " +
                        std::to_string(ta.ElementLength()));
  }
  View<T, kType> out;
  auto ab = ta.ArrayBuffer();
  out.data = reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
  out.length = ta.ElementLength();
  return out;
}

inline View<float, napi_float32_array> GetF32(const Napi::Value& v, const char* name,
                                              int64_t expected = -1) {
  return GetTyped<float, napi_float32_array>(v, name, expected);
}
inline View<int32_t, napi_int32_array> GetI32(const Napi::Value& v, const char* name,
                                              int64_t expected = -1) {
  return GetTyped<int32_t, napi_int32_array>(v, name, expected);
}
inline View<uint8_t, napi_uint8_array> GetU8(const Napi::Value& v, const char* name,
                                             int64_t expected = -1) {
  return GetTyped<uint8_t, napi_uint8_array>(v, name, expected);
}

// An integer argument in [lo, hi].
inline int64_t GetInt(const Napi::Value& v, const char* name, int64_t lo, int64_t hi) {
  Napi::Env env = v.Env();
  if (!v.IsNumber()) ThrowType(env, std::string("Expected integer for ") + name + " but received " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == static_cast<double>(static_cast<int64_t>(d))) || d < static_cast<double>(lo) ||
      d > static_cast<double>(hi)) {
    ThrowRange(env, std::string("Expected integer between ") + std::to_string(lo) + " and " +
                        std::to_string(hi) + " for " + name + " but received " + Describe(v));
  }
  return static_cast<int64_t>(d);
}

// A finite number argument.
inline double GetNumber(const Napi::Value& v, const char* name) {
  Napi::Env env = v.Env();
  if (!v.IsNumber()) ThrowType(env, std::string("Expected number for ") + name + " but received " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) ThrowRange(env, std::string("Expected finite number for ") + name + " but received " + Describe(v));
  return d;
}

inline bool GetBool(const Napi::Value& v, const char* name) {
  if (!v.IsBoolean()) ThrowType(v.Env(), std::string("Expected boolean for ") + name + " but received " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

// Turn a non-ok Status into a JS exception (RangeError for invalid arguments, Error otherwise).
inline void ThrowIfError(Napi::Env env, const rl::Status& s) {
  if (s.ok()) return;
  if (s.code == rl::StatusCode::kInvalidArgument) ThrowRange(env, s.message);
  throw Napi::Error::New(env, s.message);
}

// Runs `work` on the libuv thread pool and settles a Promise: resolved with `result(env)` or
// rejected with the Status / exception message. `keep` holds the JS values (typed arrays, handle
// objects) that `work` reads or writes, so they cannot be collected while it runs.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<rl::Status()>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise Run(Napi::Env env, std::vector<Napi::Value> keep, Work work, Result result,
                           std::function<void()> done = nullptr) {
    auto* w = new PromiseWorker(env, std::move(keep), std::move(work), std::move(result), std::move(done));
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  void Execute() override {
    rl::apply_thread_settings();
    try {
      status_ = work_();
    } catch (const std::bad_alloc&) {
      status_ = rl::Status::OutOfMemory("out of memory");
    } catch (const std::exception& e) {
      status_ = rl::Status::Internal(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (done_) done_();
    if (!status_.ok()) {
      Napi::Error err = status_.code == rl::StatusCode::kInvalidArgument
                            ? Napi::Error(Napi::RangeError::New(env, status_.message))
                            : Napi::Error::New(env, status_.message);
      deferred_.Reject(err.Value());
      return;
    }
    try {
      deferred_.Resolve(result_ ? result_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    if (done_) done_();
    deferred_.Reject(e.Value());
  }

 private:
  PromiseWorker(Napi::Env env, std::vector<Napi::Value> keep, Work work, Result result,
                std::function<void()> done)
      : Napi::AsyncWorker(env, "rewardlens"), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), result_(std::move(result)), done_(std::move(done)) {
    Napi::Object holder = Napi::Object::New(env);
    for (size_t i = 0; i < keep.size(); ++i) holder.Set(static_cast<uint32_t>(i), keep[i]);
    keep_ = Napi::Persistent(holder);
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Result result_;
  std::function<void()> done_;
  Napi::ObjectReference keep_;
  rl::Status status_;
};

// Each binding file registers its functions through one of these (called from addon.cc).
void InitRuntime(Napi::Env env, Napi::Object exports);
void InitSae(Napi::Env env, Napi::Object exports);
void InitCosine(Napi::Env env, Napi::Object exports);
void InitPpo(Napi::Env env, Napi::Object exports);
void InitOptim(Napi::Env env, Napi::Object exports);
void InitNeox(Napi::Env env, Napi::Object exports);
void InitFs(Napi::Env env, Napi::Object exports);

}  // namespace rl_napi
