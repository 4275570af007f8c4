// Binding for the sparse autoencoder: a SaeHandle class that owns one native rl::Sae (parameters,
// Adam moments, scratch). Long work (step, forward, lossAndGrad, encode) runs on the libuv pool
// through PromiseWorker; while it runs the handle is "busy" and every other call on it throws.
// Full validation with shapes happens in TypeScript (src/sae/); the checks here are the last line.
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "napi_util.h"
#include "rewardlens/sae.h"

namespace rl_napi {

namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 − 1

// Reads a resolved SaeConfig object (src/sae/config.ts); field names are the TypeScript ones.
rl::SaeConfig ReadConfig(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) ThrowType(env, "Expected object for config but received " + Describe(v));
  Napi::Object o = v.As<Napi::Object>();
  rl::SaeConfig c;
  c.d_in = GetInt(o.Get("dIn"), "config.dIn", 1, INT32_MAX);
  c.d_sae = GetInt(o.Get("dSae"), "config.dSae", 1, INT32_MAX);
  c.tied = GetBool(o.Get("tied"), "config.tied");
  c.normalize_decoder = GetBool(o.Get("normalizeDecoder"), "config.normalizeDecoder");
  c.apply_b_dec_to_input = GetBool(o.Get("applyBDecToInput"), "config.applyBDecToInput");
  c.l1_coefficient = static_cast<float>(GetNumber(o.Get("l1Coefficient"), "config.l1Coefficient"));
  c.lr = static_cast<float>(GetNumber(o.Get("lr"), "config.lr"));
  c.adam_beta1 = static_cast<float>(GetNumber(o.Get("adamBeta1"), "config.adamBeta1"));
  c.adam_beta2 = static_cast<float>(GetNumber(o.Get("adamBeta2"), "config.adamBeta2"));
  c.adam_eps = static_cast<float>(GetNumber(o.Get("adamEps"), "config.adamEps"));
  Napi::Value init = o.Get("init");
  if (!init.IsString()) ThrowType(env, "Expected \"orthogonal\" or \"kaiming\" for config.init but received " + Describe(init));
  const std::string name = init.As<Napi::String>().Utf8Value();
  if (name == "orthogonal") {
    c.init = rl::SaeInit::kOrthogonal;
  } else if (name == "kaiming") {
    c.init = rl::SaeInit::kKaiming;
  } else {
    ThrowRange(env, "Expected \"orthogonal\" or \"kaiming\" for config.init but received string \"" + name + "\"");
  }
  c.seed = static_cast<uint64_t>(GetInt(o.Get("seed"), "config.seed", 0, kMaxSafeInteger));
  c.dead_window = GetInt(o.Get("deadWindow"), "config.deadWindow", 1, kMaxSafeInteger);
  return c;
}

Napi::Object MetricsObject(Napi::Env env, const rl::SaeMetrics& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("step", Napi::Number::New(env, static_cast<double>(m.step)));
  o.Set("loss", Napi::Number::New(env, m.loss));
  o.Set("mse", Napi::Number::New(env, m.mse));
  o.Set("l1", Napi::Number::New(env, m.l1));
  o.Set("nmse", Napi::Number::New(env, m.nmse));
  o.Set("l0", Napi::Number::New(env, m.l0));
  o.Set("dead", Napi::Number::New(env, static_cast<double>(m.dead)));
  return o;
}

bool IsAbsent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

class SaeHandle : public Napi::ObjectWrap<SaeHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SaeHandle",
                       {
                           InstanceMethod<&SaeHandle::Step>("step"),
                           InstanceMethod<&SaeHandle::Forward>("forward"),
                           InstanceMethod<&SaeHandle::LossAndGrad>("lossAndGrad"),
                           InstanceMethod<&SaeHandle::Encode>("encode"),
                           InstanceMethod<&SaeHandle::GetWeights>("getWeights"),
                           InstanceMethod<&SaeHandle::SetWeights>("setWeights"),
                           InstanceMethod<&SaeHandle::GetParams>("getParams"),
                           InstanceMethod<&SaeHandle::SetParams>("setParams"),
                           InstanceMethod<&SaeHandle::StepCount>("stepCount"),
                           InstanceMethod<&SaeHandle::MemoryBytes>("memoryBytes"),
                           InstanceMethod<&SaeHandle::IsBusy>("isBusy"),
                           InstanceMethod<&SaeHandle::Dispose>("dispose"),
                       });
  }

  // new SaeHandle(config)
  explicit SaeHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SaeHandle>(info) {
    Napi::Env env = info.Env();
    const rl::SaeConfig cfg = ReadConfig(info[0]);
    rl::Sae* s = nullptr;
    ThrowIfError(env, rl::sae_create(cfg, &s));
    sae_ = s;
    n_ = cfg.d_sae;
    d_ = cfg.d_in;
    tied_ = cfg.tied;
    TrackMemory(env);
  }

  ~SaeHandle() override { Release(Env()); }

 private:
  // The native state, or a thrown Error when the handle is disposed or an async call is running.
  rl::Sae* Live(Napi::Env env) {
    if (disposed_) throw Napi::Error::New(env, "SAE handle has been disposed");
    if (busy_)
      throw Napi::Error::New(env, "SAE handle is busy: a step, forward, lossAndGrad or encode call on it "
                                  "has not finished (await it before calling the handle again)");
    return sae_;
  }

  void Release(Napi::Env env) {
    if (sae_ == nullptr) return;
    rl::sae_destroy(sae_);
    sae_ = nullptr;
    if (tracked_bytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -tracked_bytes_);
    tracked_bytes_ = 0;
  }

  // Tells V8 how much native memory this handle holds, so that dropped handles get collected.
  void TrackMemory(Napi::Env env) {
    if (sae_ == nullptr) return;
    const int64_t bytes = static_cast<int64_t>(rl::sae_memory_bytes(sae_));
    if (bytes != tracked_bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, bytes - tracked_bytes_);
    tracked_bytes_ = bytes;
  }

  // Called on the JS thread when an async call has settled.
  void Done(Napi::Env env) {
    busy_ = false;
    if (disposed_) {
      Release(env);
    } else {
      TrackMemory(env);
    }
  }

  int64_t Rows(const Napi::Value& v, const char* name, const View<float, napi_float32_array>& x) {
    if (x.length == 0 || x.length % static_cast<size_t>(d_) != 0) {
      ThrowRange(v.Env(), std::string("Expected Float32Array of shape [rows,") + std::to_string(d_) +
                              "] with rows >= 1 for " + name + " but received length " +
                              std::to_string(x.length));
    }
    return static_cast<int64_t>(x.length / static_cast<size_t>(d_));
  }

  const uint8_t* Mask(const Napi::Value& v, int64_t rows) {
    if (IsAbsent(v)) return nullptr;
    return GetU8(v, "mask", rows).data;
  }

  template <typename Work>
  Napi::Value RunAsync(const Napi::CallbackInfo& info, Work work,
                       std::shared_ptr<rl::SaeMetrics> metrics) {
    Napi::Env env = info.Env();
    std::vector<Napi::Value> keep = {info.This()};
    for (size_t i = 0; i < info.Length(); ++i) keep.push_back(info[i]);
    PromiseWorker::Result result = nullptr;
    if (metrics) result = [metrics](Napi::Env e) -> Napi::Value { return MetricsObject(e, *metrics); };
    Napi::Promise p = PromiseWorker::Run(env, std::move(keep), std::move(work), std::move(result),
                                         [this, env]() { Done(env); });
    busy_ = true;  // after Run: Done can only run later, on this thread
    return p;
  }

  // step(x: Float32Array [rows,d], mask: Uint8Array [rows] | null) → Promise<metrics>
  Napi::Value Step(const Napi::CallbackInfo& info) {
    rl::Sae* s = Live(info.Env());
    auto x = GetF32(info[0], "x");
    const int64_t rows = Rows(info[0], "x", x);
    const uint8_t* mask = Mask(info[1], rows);
    auto metrics = std::make_shared<rl::SaeMetrics>();
    const float* xd = x.data;
    return RunAsync(info, [s, xd, mask, rows, metrics] { return rl::sae_step(s, xd, mask, rows, metrics.get()); },
                    metrics);
  }

  // forward(x, mask | null, xHat: Float32Array [rows,d], c: Float32Array [rows,n]) → Promise<metrics>
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    rl::Sae* s = Live(info.Env());
    auto x = GetF32(info[0], "x");
    const int64_t rows = Rows(info[0], "x", x);
    const uint8_t* mask = Mask(info[1], rows);
    float* xhat = GetF32(info[2], "xHat", rows * d_).data;
    float* c = GetF32(info[3], "c", rows * n_).data;
    auto metrics = std::make_shared<rl::SaeMetrics>();
    const float* xd = x.data;
    return RunAsync(
        info, [s, xd, mask, rows, xhat, c, metrics] { return rl::sae_forward(s, xd, mask, rows, xhat, c, metrics.get()); },
        metrics);
  }

  // lossAndGrad(x, mask | null, W [n,d], W_enc [d,n] | null, b_enc [n], b_dec [d]) → Promise<metrics>
  Napi::Value LossAndGrad(const Napi::CallbackInfo& info) {
    rl::Sae* s = Live(info.Env());
    auto x = GetF32(info[0], "x");
    const int64_t rows = Rows(info[0], "x", x);
    const uint8_t* mask = Mask(info[1], rows);
    rl::SaeGrads g;
    g.W = GetF32(info[2], "W", n_ * d_).data;
    if (!tied_) g.W_enc = GetF32(info[3], "W_enc", n_ * d_).data;
    g.b_enc = GetF32(info[4], "b_enc", n_).data;
    g.b_dec = GetF32(info[5], "b_dec", d_).data;
    auto metrics = std::make_shared<rl::SaeMetrics>();
    const float* xd = x.data;
    return RunAsync(
        info, [s, xd, mask, rows, g, metrics] { return rl::sae_loss_and_grad(s, xd, mask, rows, metrics.get(), g); },
        metrics);
  }

  // encode(x: Float32Array [rows,d], c: Float32Array [rows,n]) → Promise<undefined>
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    rl::Sae* s = Live(info.Env());
    auto x = GetF32(info[0], "x");
    const int64_t rows = Rows(info[0], "x", x);
    float* c = GetF32(info[1], "c", rows * n_).data;
    const float* xd = x.data;
    return RunAsync(info, [s, xd, rows, c] { return rl::sae_encode(s, xd, rows, c); }, nullptr);
  }

  // getWeights(W_enc [d,n], b_enc [n], W_dec [n,d], b_dec [d]): SAELens layout copies.
  Napi::Value GetWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Sae* s = Live(env);
    float* we = GetF32(info[0], "W_enc", n_ * d_).data;
    float* be = GetF32(info[1], "b_enc", n_).data;
    float* wd = GetF32(info[2], "W_dec", n_ * d_).data;
    float* bd = GetF32(info[3], "b_dec", d_).data;
    ThrowIfError(env, rl::sae_get_weights(s, we, be, wd, bd));
    return env.Undefined();
  }

  // setWeights(W_enc [d,n] | null (read only when untied), b_enc, W_dec, b_dec)
  Napi::Value SetWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Sae* s = Live(env);
    const float* we = tied_ && IsAbsent(info[0]) ? nullptr : GetF32(info[0], "W_enc", n_ * d_).data;
    const float* be = GetF32(info[1], "b_enc", n_).data;
    const float* wd = GetF32(info[2], "W_dec", n_ * d_).data;
    const float* bd = GetF32(info[3], "b_dec", d_).data;
    ThrowIfError(env, rl::sae_set_weights(s, we, be, wd, bd));
    return env.Undefined();
  }

  // getParams(W [n,d], W_enc [d,n] | null, b_enc, b_dec): the raw parameters.
  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Sae* s = Live(env);
    float* w = GetF32(info[0], "W", n_ * d_).data;
    float* we = tied_ ? nullptr : GetF32(info[1], "W_enc", n_ * d_).data;
    float* be = GetF32(info[2], "b_enc", n_).data;
    float* bd = GetF32(info[3], "b_dec", d_).data;
    ThrowIfError(env, rl::sae_get_params(s, w, we, be, bd));
    return env.Undefined();
  }

  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Sae* s = Live(env);
    const float* w = GetF32(info[0], "W", n_ * d_).data;
    const float* we = tied_ ? nullptr : GetF32(info[1], "W_enc", n_ * d_).data;
    const float* be = GetF32(info[2], "b_enc", n_).data;
    const float* bd = GetF32(info[3], "b_dec", d_).data;
    ThrowIfError(env, rl::sae_set_params(s, w, we, be, bd));
    return env.Undefined();
  }

  Napi::Value StepCount(const Napi::CallbackInfo& info) {
    rl::Sae* s = Live(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(rl::sae_step_count(s)));
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    rl::Sae* s = Live(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(rl::sae_memory_bytes(s)));
  }

  Napi::Value IsBusy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }

  // Idempotent. While an async call runs, the memory is freed when it settles.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    if (!busy_) Release(info.Env());
    return info.Env().Undefined();
  }

  rl::Sae* sae_ = nullptr;
  int64_t n_ = 0, d_ = 0;
  bool tied_ = true;
  bool busy_ = false;
  bool disposed_ = false;
  int64_t tracked_bytes_ = 0;
};

}  // namespace

void InitSae(Napi::Env env, Napi::Object exports) { exports.Set("SaeHandle", SaeHandle::Define(env)); }

}  // namespace rl_napi
