// Binding for the optimiser kernels: an AdamWState handle (moments live natively, params and grads
// are borrowed per call without copies), the raw one-tensor adamwStep, and the grad-norm helpers.
// All synchronous: each is one memory-bound pass over the tensors.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "napi_util.h"
#include "rewardlens/optim.h"

namespace rl_napi {

namespace {

View<double, napi_float64_array> GetF64(const Napi::Value& v, const char* name, int64_t expected) {
  return GetTyped<double, napi_float64_array>(v, name, expected);
}

// A JS array of Float32Arrays; `sizes` (when given) fixes each one's length. Names read "name[i]".
struct F32List {
  std::vector<float*> ptrs;
  std::vector<int64_t> sizes;
};
F32List GetF32List(const Napi::Value& v, const std::string& name,
                   const std::vector<int64_t>* sizes = nullptr) {
  Napi::Env env = v.Env();
  if (!v.IsArray()) ThrowType(env, "Expected Array of Float32Array for " + name + " but received " + Describe(v));
  auto arr = v.As<Napi::Array>();
  const uint32_t n = arr.Length();
  if (sizes && n != sizes->size()) {
    ThrowRange(env, "Expected Array of " + std::to_string(sizes->size()) + " Float32Array for " +
                        name + " but received " + std::to_string(n));
  }
  F32List out;
  for (uint32_t i = 0; i < n; ++i) {
    const std::string item = name + "[" + std::to_string(i) + "]";
    auto view = GetF32(arr.Get(i), item.c_str(), sizes ? (*sizes)[i] : -1);
    out.ptrs.push_back(view.data);
    out.sizes.push_back(static_cast<int64_t>(view.length));
  }
  return out;
}

// new AdamWState(sizes: number[]): zeroed moments for tensors of these lengths.
class AdamWHandle : public Napi::ObjectWrap<AdamWHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AdamWState",
                       {InstanceMethod("step", &AdamWHandle::Step),
                        InstanceMethod("stepCount", &AdamWHandle::StepCount),
                        InstanceMethod("readState", &AdamWHandle::ReadState),
                        InstanceMethod("writeState", &AdamWHandle::WriteState),
                        InstanceMethod("dispose", &AdamWHandle::Dispose)});
  }

  explicit AdamWHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AdamWHandle>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) ThrowType(env, "Expected Array of integer for sizes but received " + Describe(info[0]));
    auto arr = info[0].As<Napi::Array>();
    std::vector<int64_t> sizes;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string name = "sizes[" + std::to_string(i) + "]";
      sizes.push_back(GetInt(arr.Get(i), name.c_str(), 0, int64_t{1} << 53));
    }
    state_ = std::make_unique<rl::AdamWState>();
    ThrowIfError(env, rl::adamw_state_init(state_.get(), sizes.data(), static_cast<int64_t>(sizes.size())));
  }

 private:
  rl::AdamWState& State(Napi::Env env) {
    if (!state_) throw Napi::Error::New(env, "AdamW: this optimiser was disposed");
    return *state_;
  }

  // step(params, grads, lr: Float64Array[count], wd: Float64Array[count], beta1, beta2, eps)
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::AdamWState& s = State(env);
    const int64_t count = static_cast<int64_t>(s.sizes.size());
    F32List params = GetF32List(info[0], "params", &s.sizes);
    F32List grads = GetF32List(info[1], "grads", &s.sizes);
    auto lr = GetF64(info[2], "lr", count);
    auto wd = GetF64(info[3], "weightDecay", count);
    const float beta1 = static_cast<float>(GetNumber(info[4], "beta1"));
    const float beta2 = static_cast<float>(GetNumber(info[5], "beta2"));
    const float eps = static_cast<float>(GetNumber(info[6], "eps"));
    std::vector<float> lr32(lr.data, lr.data + count), wd32(wd.data, wd.data + count);
    std::vector<const float*> gptrs(grads.ptrs.begin(), grads.ptrs.end());
    ThrowIfError(env, rl::adamw_state_step(&s, params.ptrs.data(), gptrs.data(), lr32.data(),
                                           wd32.data(), beta1, beta2, eps));
    return env.Undefined();
  }

  Napi::Value StepCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(State(info.Env()).step));
  }

  // readState(m, v): copies the moments into the given arrays (one per tensor); returns the step.
  Napi::Value ReadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::AdamWState& s = State(env);
    F32List m = GetF32List(info[0], "m", &s.sizes);
    F32List v = GetF32List(info[1], "v", &s.sizes);
    for (size_t i = 0; i < s.sizes.size(); ++i) {
      std::copy_n(s.m.data() + s.offsets[i], s.sizes[i], m.ptrs[i]);
      std::copy_n(s.v.data() + s.offsets[i], s.sizes[i], v.ptrs[i]);
    }
    return Napi::Number::New(env, static_cast<double>(s.step));
  }

  // writeState(m, v, step): copies the given moments in and sets the step count.
  Napi::Value WriteState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::AdamWState& s = State(env);
    F32List m = GetF32List(info[0], "m", &s.sizes);
    F32List v = GetF32List(info[1], "v", &s.sizes);
    const int64_t step = GetInt(info[2], "step", 0, int64_t{1} << 53);
    for (size_t i = 0; i < s.sizes.size(); ++i) {
      std::copy_n(m.ptrs[i], s.sizes[i], s.m.data() + s.offsets[i]);
      std::copy_n(v.ptrs[i], s.sizes[i], s.v.data() + s.offsets[i]);
    }
    s.step = step;
    return env.Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    state_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<rl::AdamWState> state_;
};

// adamwStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, t): one tensor, in place.
Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto param = GetF32(info[0], "param");
  const int64_t n = static_cast<int64_t>(param.length);
  auto grad = GetF32(info[1], "grad", n);
  auto m = GetF32(info[2], "m", n);
  auto v = GetF32(info[3], "v", n);
  rl::AdamWHyper h;
  h.lr = static_cast<float>(GetNumber(info[4], "lr"));
  h.beta1 = static_cast<float>(GetNumber(info[5], "beta1"));
  h.beta2 = static_cast<float>(GetNumber(info[6], "beta2"));
  h.eps = static_cast<float>(GetNumber(info[7], "eps"));
  h.weight_decay = static_cast<float>(GetNumber(info[8], "weightDecay"));
  const int64_t t = GetInt(info[9], "t", 1, int64_t{1} << 53);
  ThrowIfError(env, rl::adamw_step_checked(param.data, grad.data, m.data, v.data, n, h, t));
  return env.Undefined();
}

// gradNormSq(tensors) → Σ x² over all of them (double accumulation).
Napi::Value GradNormSq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32List x = GetF32List(info[0], "grads");
  std::vector<const float*> ptrs(x.ptrs.begin(), x.ptrs.end());
  double out = 0.0;
  ThrowIfError(env, rl::grad_norm_sq(ptrs.data(), x.sizes.data(), static_cast<int64_t>(ptrs.size()), &out));
  return Napi::Number::New(env, out);
}

// clipGradNorm(tensors, maxNorm) → the norm before clipping; scales in place when above maxNorm.
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32List x = GetF32List(info[0], "grads");
  const double max_norm = GetNumber(info[1], "maxNorm");
  double norm = 0.0;
  ThrowIfError(env, rl::clip_grad_norm(x.ptrs.data(), x.sizes.data(),
                                       static_cast<int64_t>(x.ptrs.size()), max_norm, &norm));
  return Napi::Number::New(env, norm);
}

// scale(x, s): x *= s in place.
Napi::Value Scale(const Napi::CallbackInfo& info) {
  auto x = GetF32(info[0], "x");
  rl::scale(x.data, static_cast<int64_t>(x.length), static_cast<float>(GetNumber(info[1], "s")));
  return info.Env().Undefined();
}

}  // namespace

void InitOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("AdamWState", AdamWHandle::Define(env));
  exports.Set("adamwStep", Napi::Function::New(env, AdamwStep));
  exports.Set("gradNormSq", Napi::Function::New(env, GradNormSq));
  exports.Set("clipGradNorm", Napi::Function::New(env, ClipGradNorm));
  exports.Set("scale", Napi::Function::New(env, Scale));
}

}  // namespace rl_napi
