// Binding for the GPT-NeoX engine: a NeoxHandle class that owns one native rl::Neox. Parameters
// and gradients are exposed without copies as external ArrayBuffers over the native allocations;
// each buffer holds a reference to the model, so the memory outlives neither the handle nor any
// view, and dispose() detaches them (views then read as length 0). forward and backward run on
// the libuv pool through PromiseWorker; while one runs the handle is busy and every other call on
// it throws. generate and forwardCached run the same way; a NeoxCacheHandle owns one KV cache
// (rl::NeoxCache), busy too while a forwardCached uses it. Both classes tag their objects, so that
// an argument is checked to be the right class before it is unwrapped. Full validation with shapes happens in TypeScript (src/model/neox-engine.ts); the
// checks here are the last line, so that a direct call of the raw binding can never crash.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "napi_util.h"
#include "rewardlens/neox.h"

namespace rl_napi {

namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 − 1
constexpr int64_t kMaxDim = int64_t{1} << 31;

using ModelRef = std::shared_ptr<rl::Neox>;
using CacheRef = std::shared_ptr<rl::NeoxCache>;

constexpr napi_type_tag kNeoxTag = {0x6e656f78726c6e31ULL, 0x8a1f3c5d7e9b2a40ULL};
constexpr napi_type_tag kCacheTag = {0x6e656f78636b7631ULL, 0x3b7d9e1f5a2c4e60ULL};

bool IsAbsent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

// Reads a NeoxConfig object (src/model/neox-config.ts); field names are the TypeScript ones.
// modelType "gpt_neo" reads GPT-Neo's fields instead of the rotary and residual ones; its per-layer
// attention kinds go into *local (which c.local_layers points at).
rl::NeoxConfig ReadConfig(const Napi::Value& v, std::vector<uint8_t>* local) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) ThrowType(env, "Expected object for config but received " + Describe(v));
  Napi::Object o = v.As<Napi::Object>();
  rl::NeoxConfig c;
  Napi::Value type = o.Get("modelType");
  if (!type.IsString()) ThrowType(env, "Expected \"gpt_neox\" or \"gpt_neo\" for config.modelType but received " + Describe(type));
  const std::string tname = type.As<Napi::String>().Utf8Value();
  if (tname == "gpt_neo") {
    c.arch = rl::NeoxArch::kGptNeo;
  } else if (tname != "gpt_neox") {
    ThrowType(env, "Expected \"gpt_neox\" or \"gpt_neo\" for config.modelType but received string \"" + tname + "\"");
  }
  c.vocab_size = GetInt(o.Get("vocabSize"), "config.vocabSize", 1, kMaxDim - 1);
  c.hidden_size = GetInt(o.Get("hiddenSize"), "config.hiddenSize", 1, kMaxDim - 1);
  c.num_layers = GetInt(o.Get("numLayers"), "config.numLayers", 1, 100000);
  c.num_heads = GetInt(o.Get("numHeads"), "config.numHeads", 1, kMaxDim - 1);
  c.intermediate_size = GetInt(o.Get("intermediateSize"), "config.intermediateSize", 1, kMaxDim - 1);
  if (c.arch == rl::NeoxArch::kGptNeo) {
    c.rotary_dims = 0;
    c.parallel_residual = false;
    c.attention_bias = false;
    c.max_positions = GetInt(o.Get("maxPositions"), "config.maxPositions", 1, kMaxDim - 1);
    Napi::Value layers = o.Get("attentionLayers");
    if (!layers.IsArray()) ThrowType(env, "Expected an array of \"global\" | \"local\" for config.attentionLayers but received " + Describe(layers));
    Napi::Array arr = layers.As<Napi::Array>();
    if (static_cast<int64_t>(arr.Length()) != c.num_layers) {
      ThrowRange(env, "Expected " + std::to_string(c.num_layers) + " entries (numLayers) for config.attentionLayers but received " +
                          std::to_string(arr.Length()));
    }
    local->assign(static_cast<size_t>(c.num_layers), 0);
    bool any_local = false;
    for (uint32_t l = 0; l < arr.Length(); ++l) {
      Napi::Value e = arr.Get(l);
      const std::string k = e.IsString() ? e.As<Napi::String>().Utf8Value() : "";
      if (k != "global" && k != "local") {
        ThrowType(env, "Expected \"global\" or \"local\" for config.attentionLayers[" + std::to_string(l) + "] but received " + Describe(e));
      }
      (*local)[l] = k == "local" ? 1 : 0;
      any_local = any_local || k == "local";
    }
    c.local_layers = local->data();
    c.window_size = any_local ? GetInt(o.Get("windowSize"), "config.windowSize", 1, kMaxDim - 1) : 0;
  } else {
    const double pct = GetNumber(o.Get("rotaryPct"), "config.rotaryPct");
    if (pct < 0 || pct > 1) ThrowRange(env, "Expected number between 0 and 1 for config.rotaryPct but received " + std::to_string(pct));
    // neoxDerived: headDim = hidden / heads; rotaryDims = floor(headDim · rotaryPct)
    const double head_dim = static_cast<double>(c.hidden_size) / static_cast<double>(c.num_heads);
    c.rotary_dims = static_cast<int64_t>(std::floor(head_dim * pct));
    c.rotary_base = GetNumber(o.Get("rotaryBase"), "config.rotaryBase");
    c.parallel_residual = GetBool(o.Get("parallelResidual"), "config.parallelResidual");
    c.attention_bias = GetBool(o.Get("attentionBias"), "config.attentionBias");
  }
  c.layer_norm_eps = static_cast<float>(GetNumber(o.Get("layerNormEps"), "config.layerNormEps"));
  c.tie_word_embeddings = GetBool(o.Get("tieWordEmbeddings"), "config.tieWordEmbeddings");
  Napi::Value act = o.Get("hiddenAct");
  const std::string act_names = "\"gelu\", \"gelu_new\", \"gelu_fast\", \"gelu_pytorch_tanh\"";
  if (!act.IsString()) ThrowType(env, "Expected one of " + act_names + " for config.hiddenAct but received " + Describe(act));
  const std::string a = act.As<Napi::String>().Utf8Value();
  if (a == "gelu") {
    c.activation = rl::NeoxActivation::kGeluErf;
  } else if (a == "gelu_new" || a == "gelu_fast" || a == "gelu_pytorch_tanh") {
    c.activation = rl::NeoxActivation::kGeluTanh;
  } else {
    ThrowType(env, "Expected one of " + act_names + " for config.hiddenAct but received string \"" + a + "\"");
  }
  return c;
}

// Parses a hook name: hidden.i, resid.i, attn_out.i, mlp_post.i, mlp_out.i.
rl::NeoxHook ParseHook(Napi::Env env, const std::string& name, int64_t L) {
  const size_t dot = name.rfind('.');
  const std::string known = "hidden.i (i in [0, " + std::to_string(L) + "]), resid.i, attn_out.i, mlp_post.i, mlp_out.i (i in [0, " +
                            std::to_string(L - 1) + "])";
  auto fail = [&]() { ThrowRange(env, "Expected one of " + known + " for hooks but received \"" + name + "\""); };
  if (dot == std::string::npos || dot + 1 >= name.size()) fail();
  const std::string kind = name.substr(0, dot), idx = name.substr(dot + 1);
  if (idx.size() > 9 || (idx.size() > 1 && idx[0] == '0')) fail();
  for (char ch : idx) {
    if (ch < '0' || ch > '9') fail();
  }
  rl::NeoxHook h;
  h.layer = std::stoll(idx);
  if (kind == "hidden") {
    h.point = rl::NeoxHookPoint::kHidden;
  } else if (kind == "resid") {
    h.point = rl::NeoxHookPoint::kResid;
  } else if (kind == "attn_out") {
    h.point = rl::NeoxHookPoint::kAttnOut;
  } else if (kind == "mlp_post") {
    h.point = rl::NeoxHookPoint::kMlpPost;
  } else if (kind == "mlp_out") {
    h.point = rl::NeoxHookPoint::kMlpOut;
  } else {
    fail();
  }
  if (h.layer > (h.point == rl::NeoxHookPoint::kHidden ? L : L - 1)) fail();
  return h;
}

// Everything one forward call reads, copied (the small integer inputs) or borrowed (outputs).
struct ForwardJob {
  std::vector<int32_t> ids, pos, targets;
  std::vector<uint8_t> mask;
  std::vector<rl::NeoxHook> hooks;
  rl::NeoxBatch batch;
  rl::NeoxForwardRequest req;
  double loss = 0.0;
};

struct GenerateJob {
  std::vector<int32_t> ids, pos, row_max;
  std::vector<uint8_t> mask;
  rl::NeoxBatch batch;
  rl::NeoxGenerateOptions opts;
  rl::NeoxGenerateOutput out;
};

struct CachedJob {
  std::vector<int32_t> ids, pos;
  std::vector<uint8_t> mask;
  rl::NeoxBatch batch;
  float* logits = nullptr;
  bool all_positions = false;
};

// Copies a [B,T] batch's inputs (ids, and the mask and positions when given) into job vectors.
template <typename Job>
void ReadTokens(Napi::Object o, int64_t B, int64_t T, const char* prefix, Job* job) {
  const int64_t BT = B * T;
  const std::string p = prefix;
  auto ids = GetI32(o.Get("inputIds"), (p + "inputIds").c_str(), BT);
  job->ids.assign(ids.data, ids.data + BT);
  job->batch.input_ids = job->ids.data();
  job->batch.B = B;
  job->batch.T = T;
  if (!IsAbsent(o.Get("attentionMask"))) {
    auto mask = GetU8(o.Get("attentionMask"), (p + "attentionMask").c_str(), BT);
    job->mask.assign(mask.data, mask.data + BT);
    job->batch.attention_mask = job->mask.data();
  }
  if (!IsAbsent(o.Get("positionIds"))) {
    auto pos = GetI32(o.Get("positionIds"), (p + "positionIds").c_str(), BT);
    job->pos.assign(pos.data, pos.data + BT);
    job->batch.position_ids = job->pos.data();
  }
}

// One KV cache: new NeoxCacheHandle(neoxHandle, B, maxLength), laid out for that model's shape.
class NeoxCacheHandle : public Napi::ObjectWrap<NeoxCacheHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NeoxCacheHandle",
                       {
                           InstanceMethod<&NeoxCacheHandle::Rows>("rows"),
                           InstanceMethod<&NeoxCacheHandle::Capacity>("capacity"),
                           InstanceMethod<&NeoxCacheHandle::Length>("length"),
                           InstanceMethod<&NeoxCacheHandle::Reset>("reset"),
                           InstanceMethod<&NeoxCacheHandle::MemoryBytes>("memoryBytes"),
                           InstanceMethod<&NeoxCacheHandle::IsBusy>("isBusy"),
                           InstanceMethod<&NeoxCacheHandle::Dispose>("dispose"),
                       });
  }

  explicit NeoxCacheHandle(const Napi::CallbackInfo& info);  // after NeoxHandle

  ~NeoxCacheHandle() override { Release(Env()); }

  // The cache for a call, or a thrown Error when disposed or busy.
  const CacheRef& Live(Napi::Env env) {
    if (disposed_ || !cache_) throw Napi::Error::New(env, "KV cache has been disposed");
    if (busy_) {
      throw Napi::Error::New(env, "KV cache is busy: a forwardCached call on it has not finished (await it before using the cache again)");
    }
    return cache_;
  }
  void SetBusy(bool b) { busy_ = b; }
  void Settled(Napi::Env env) {
    busy_ = false;
    if (disposed_) Release(env);
  }

 private:
  void Release(Napi::Env env) {
    if (!cache_) return;
    cache_.reset();
    if (tracked_bytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -tracked_bytes_);
    tracked_bytes_ = 0;
  }
  Napi::Value Rows(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(rl::neox_cache_rows(Live(info.Env()).get())));
  }
  Napi::Value Capacity(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(rl::neox_cache_capacity(Live(info.Env()).get())));
  }
  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(rl::neox_cache_length(Live(info.Env()).get())));
  }
  Napi::Value Reset(const Napi::CallbackInfo& info) {
    rl::neox_cache_reset(Live(info.Env()).get());
    return info.Env().Undefined();
  }
  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(rl::neox_cache_memory_bytes(Live(info.Env()).get())));
  }
  Napi::Value IsBusy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }
  // Idempotent. While a forwardCached runs, the memory is released when it settles.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    if (!busy_) Release(info.Env());
    return info.Env().Undefined();
  }

  CacheRef cache_;
  bool busy_ = false;
  bool disposed_ = false;
  int64_t tracked_bytes_ = 0;
};

struct BackwardJob {
  std::vector<float> dlogp, dvalues;
  rl::NeoxBackwardRequest req;
};

class NeoxHandle : public Napi::ObjectWrap<NeoxHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NeoxHandle",
                       {
                           InstanceMethod<&NeoxHandle::Tensors>("tensors"),
                           InstanceMethod<&NeoxHandle::NumParams>("numParams"),
                           InstanceMethod<&NeoxHandle::ParameterBuffer>("parameterBuffer"),
                           InstanceMethod<&NeoxHandle::GradientBuffer>("gradientBuffer"),
                           InstanceMethod<&NeoxHandle::Forward>("forward"),
                           InstanceMethod<&NeoxHandle::Backward>("backward"),
                           InstanceMethod<&NeoxHandle::ForwardCached>("forwardCached"),
                           InstanceMethod<&NeoxHandle::Generate>("generate"),
                           InstanceMethod<&NeoxHandle::ZeroGrad>("zeroGrad"),
                           InstanceMethod<&NeoxHandle::MemoryBytes>("memoryBytes"),
                           InstanceMethod<&NeoxHandle::IsBusy>("isBusy"),
                           InstanceMethod<&NeoxHandle::Dispose>("dispose"),
                           StaticMethod<&NeoxHandle::Architectures>("architectures"),
                       });
  }

  // The config.modelType values this build reads.
  static Napi::Value Architectures(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), 2);
    a.Set(uint32_t{0}, Napi::String::New(info.Env(), "gpt_neox"));
    a.Set(uint32_t{1}, Napi::String::New(info.Env(), "gpt_neo"));
    return a;
  }

  // new NeoxHandle(config, { valueHead, init: 'zeros' | 'normal', seed, initStd, lmHeadChunkRows? })
  explicit NeoxHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NeoxHandle>(info) {
    Napi::Env env = info.Env();
    std::vector<uint8_t> local;
    rl::NeoxConfig cfg = ReadConfig(info[0], &local);
    if (!info[1].IsObject()) ThrowType(env, "Expected object for opts but received " + Describe(info[1]));
    Napi::Object o = info[1].As<Napi::Object>();
    cfg.value_head = GetBool(o.Get("valueHead"), "opts.valueHead");
    Napi::Value init = o.Get("init");
    if (!init.IsString()) ThrowType(env, "Expected \"zeros\" or \"normal\" for opts.init but received " + Describe(init));
    const std::string iname = init.As<Napi::String>().Utf8Value();
    rl::NeoxInit kind = rl::NeoxInit::kNormal;
    if (iname == "zeros") {
      kind = rl::NeoxInit::kZeros;
    } else if (iname != "normal") {
      ThrowType(env, "Expected \"zeros\" or \"normal\" for opts.init but received string \"" + iname + "\"");
    }
    const uint64_t seed = static_cast<uint64_t>(GetInt(o.Get("seed"), "opts.seed", 0, kMaxSafeInteger));
    const double std_ = GetNumber(o.Get("initStd"), "opts.initStd");
    if (!IsAbsent(o.Get("lmHeadChunkRows"))) {
      cfg.lm_head_chunk_rows = GetInt(o.Get("lmHeadChunkRows"), "opts.lmHeadChunkRows", 0, kMaxDim);
    }
    rl::Neox* m = nullptr;
    ThrowIfError(env, rl::neox_create(cfg, kind, seed, static_cast<float>(std_), &m));
    model_ = ModelRef(m, rl::neox_destroy);
    vocab_ = cfg.vocab_size;
    hidden_ = cfg.hidden_size;
    inter_ = cfg.intermediate_size;
    layers_ = cfg.num_layers;
    value_head_ = cfg.value_head;
    info.This().As<Napi::Object>().TypeTag(&kNeoxTag);
    TrackMemory(env);
  }

  // The model of a NeoxHandle argument (for NeoxCacheHandle's constructor).
  static rl::Neox* ModelOf(const Napi::Value& v) {
    Napi::Env env = v.Env();
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kNeoxTag)) {
      ThrowType(env, "Expected NeoxHandle for model but received " + Describe(v));
    }
    return Unwrap(v.As<Napi::Object>())->Live(env);
  }

  // Collected without dispose(): views the program still holds stay valid (each buffer keeps the
  // model alive), so the buffers are not detached here.
  ~NeoxHandle() override { Release(Env(), false); }

 private:
  rl::Neox* Live(Napi::Env env) {
    if (disposed_ || !model_) throw Napi::Error::New(env, "GPT-NeoX engine has been disposed");
    if (busy_)
      throw Napi::Error::New(env, "GPT-NeoX engine is busy: a forward or backward call on it has not finished "
                                  "(await it before calling the engine again)");
    return model_.get();
  }

  // Detaches the exposed buffers when asked (dispose: their views read as length 0), frees the
  // activations, and drops the handle's reference; the parameter and gradient allocations go with
  // the last buffer that still refers to them.
  void Release(Napi::Env env, bool detach) {
    if (!model_) return;
    for (Napi::Reference<Napi::ArrayBuffer>* ref : {&params_ab_, &grads_ab_}) {
      if (ref->IsEmpty()) continue;
      if (detach) {
        try {
          Napi::ArrayBuffer ab = ref->Value();
          if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
        } catch (const Napi::Error&) {
          // not detachable: the buffer keeps the model alive through its own reference
        }
      }
      ref->Reset();
    }
    rl::neox_release_activations(model_.get());
    model_.reset();
    if (tracked_bytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -tracked_bytes_);
    tracked_bytes_ = 0;
  }

  void TrackMemory(Napi::Env env) {
    if (!model_) return;
    const int64_t bytes = static_cast<int64_t>(rl::neox_memory_bytes(model_.get()));
    if (bytes != tracked_bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, bytes - tracked_bytes_);
    tracked_bytes_ = bytes;
  }

  void Done(Napi::Env env) {
    busy_ = false;
    if (disposed_) {
      Release(env, true);
    } else {
      TrackMemory(env);
    }
  }

  // An external ArrayBuffer over `data`, holding a reference to the model until it is collected.
  Napi::ArrayBuffer External(Napi::Env env, float* data, size_t bytes) {
    auto* hold = new ModelRef(model_);
    return Napi::ArrayBuffer::New(
        env, data, bytes, [](Napi::Env, void*, ModelRef* h) { delete h; }, hold);
  }

  // tensors() → [{ name, offset (floats), shape }], in neoxParameterSpecs order.
  Napi::Value Tensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Neox* m = Live(env);
    const int64_t n = rl::neox_num_tensors(m);
    Napi::Array out = Napi::Array::New(env, static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      rl::NeoxTensorInfo t;
      ThrowIfError(env, rl::neox_tensor_info(m, k, &t));
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", Napi::String::New(env, t.name));
      o.Set("offset", Napi::Number::New(env, static_cast<double>(t.offset)));
      Napi::Array shape = Napi::Array::New(env, static_cast<size_t>(t.ndim));
      for (int64_t d = 0; d < t.ndim; ++d) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(t.shape[d])));
      o.Set("shape", shape);
      out.Set(static_cast<uint32_t>(k), o);
    }
    return out;
  }

  Napi::Value NumParams(const Napi::CallbackInfo& info) {
    rl::Neox* m = Live(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(rl::neox_num_params(m)));
  }

  // parameterBuffer() → ArrayBuffer over the parameter allocation (the same object every call).
  Napi::Value ParameterBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (disposed_ || !model_) throw Napi::Error::New(env, "GPT-NeoX engine has been disposed");
    if (params_ab_.IsEmpty()) {
      rl::Neox* m = model_.get();
      params_ab_ = Napi::Persistent(External(env, rl::neox_params(m), static_cast<size_t>(rl::neox_num_params(m)) * sizeof(float)));
    }
    return params_ab_.Value();
  }

  // gradientBuffer() → ArrayBuffer over the gradient allocation (made, zeroed, on first call).
  Napi::Value GradientBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (grads_ab_.IsEmpty()) {
      rl::Neox* m = Live(env);
      float* g = nullptr;
      ThrowIfError(env, rl::neox_grads(m, &g));
      grads_ab_ = Napi::Persistent(External(env, g, static_cast<size_t>(rl::neox_num_params(m)) * sizeof(float)));
      TrackMemory(env);
    } else if (disposed_ || !model_) {
      throw Napi::Error::New(env, "GPT-NeoX engine has been disposed");
    }
    return grads_ab_.Value();
  }

  template <typename Work>
  Napi::Value RunAsync(const Napi::CallbackInfo& info, std::vector<Napi::Value> keep, Work work,
                       PromiseWorker::Result result, std::function<void()> after = nullptr) {
    Napi::Env env = info.Env();
    keep.push_back(info.This());
    Napi::Promise p = PromiseWorker::Run(env, std::move(keep), std::move(work), std::move(result),
                                         [this, env, after]() {
                                           if (after) after();
                                           Done(env);
                                         });
    busy_ = true;  // after Run: Done can only run later, on this thread
    return p;
  }

  // forward({ inputIds, attentionMask|null, positionIds|null, B, T, logits|null, targets|null,
  //           tokenLogprobs|null, loss, lastHidden|null, values|null, hookNames, hookBuffers, train })
  //   → Promise<number | undefined> (the loss when requested)
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Neox* m = Live(env);
    if (!info[0].IsObject()) ThrowType(env, "Expected object for request but received " + Describe(info[0]));
    Napi::Object o = info[0].As<Napi::Object>();
    auto job = std::make_shared<ForwardJob>();
    std::vector<Napi::Value> keep;
    const int64_t B = GetInt(o.Get("B"), "B", 1, int64_t{1} << 30);
    const int64_t T = GetInt(o.Get("T"), "T", 1, int64_t{1} << 30);
    if (B * T > kMaxDim) ThrowRange(env, "Expected B·T <= 2147483648 for inputIds but received " + std::to_string(B * T));
    const int64_t BT = B * T;
    auto ids = GetI32(o.Get("inputIds"), "inputIds", BT);
    job->ids.assign(ids.data, ids.data + BT);
    job->batch.input_ids = job->ids.data();
    job->batch.B = B;
    job->batch.T = T;
    if (!IsAbsent(o.Get("attentionMask"))) {
      auto mask = GetU8(o.Get("attentionMask"), "attentionMask", BT);
      job->mask.assign(mask.data, mask.data + BT);
      job->batch.attention_mask = job->mask.data();
    }
    if (!IsAbsent(o.Get("positionIds"))) {
      auto pos = GetI32(o.Get("positionIds"), "positionIds", BT);
      job->pos.assign(pos.data, pos.data + BT);
      job->batch.position_ids = job->pos.data();
    }
    if (!IsAbsent(o.Get("targets"))) {
      auto t = GetI32(o.Get("targets"), "targets", BT);
      job->targets.assign(t.data, t.data + BT);
      job->req.targets = job->targets.data();
    }
    auto out = [&](const char* name, int64_t len) -> float* {
      Napi::Value v = o.Get(name);
      if (IsAbsent(v)) return nullptr;
      float* p = GetF32(v, name, len).data;
      keep.push_back(v);
      return p;
    };
    job->req.logits = out("logits", BT * vocab_);
    job->req.token_logprobs = out("tokenLogprobs", BT);
    job->req.last_hidden = out("lastHidden", BT * hidden_);
    job->req.values = out("values", BT);
    if (job->req.token_logprobs != nullptr && job->req.targets == nullptr) {
      ThrowType(env, "Expected Int32Array of shape [B,T] for targets (tokenLogprobs needs them) but received " + Describe(o.Get("targets")));
    }
    if (job->req.values != nullptr && !value_head_) {
      ThrowRange(env, "Expected a model with a value head for values but received a model without one");
    }
    const bool want_loss = !IsAbsent(o.Get("loss")) && GetBool(o.Get("loss"), "loss");
    if (want_loss) job->req.loss = &job->loss;
    job->req.train = !IsAbsent(o.Get("train")) && GetBool(o.Get("train"), "train");
    if (!IsAbsent(o.Get("valueDropout"))) {
      const double p = GetNumber(o.Get("valueDropout"), "valueDropout");
      if (!(p >= 0.0 && p < 1.0)) ThrowRange(env, "Expected a number in [0, 1) for valueDropout but received " + std::to_string(p));
      job->req.value_dropout = static_cast<float>(p);
      job->req.value_dropout_seed = static_cast<uint32_t>(GetInt(o.Get("valueDropoutSeed"), "valueDropoutSeed", 0, 4294967295LL));
    }
    Napi::Value names = o.Get("hookNames"), bufs = o.Get("hookBuffers");
    if (!IsAbsent(names) || !IsAbsent(bufs)) {
      if (!names.IsArray()) ThrowType(env, "Expected Array of hook names for hookNames but received " + Describe(names));
      if (!bufs.IsArray()) ThrowType(env, "Expected Array of Float32Array for hookBuffers but received " + Describe(bufs));
      Napi::Array na = names.As<Napi::Array>(), ba = bufs.As<Napi::Array>();
      if (na.Length() != ba.Length()) {
        ThrowRange(env, "Expected " + std::to_string(na.Length()) + " buffers (one per hook name) for hookBuffers but received " +
                            std::to_string(ba.Length()));
      }
      for (uint32_t k = 0; k < na.Length(); ++k) {
        Napi::Value nv = na.Get(k);
        if (!nv.IsString()) ThrowType(env, "Expected string for hookNames[" + std::to_string(k) + "] but received " + Describe(nv));
        const std::string name = nv.As<Napi::String>().Utf8Value();
        rl::NeoxHook h = ParseHook(env, name, layers_);
        const int64_t width = h.point == rl::NeoxHookPoint::kMlpPost ? inter_ : hidden_;
        Napi::Value bv = ba.Get(k);
        const std::string label = "hooks[\"" + name + "\"]";
        h.out = GetF32(bv, label.c_str(), BT * width).data;
        keep.push_back(bv);
        job->hooks.push_back(h);
      }
      job->req.hooks = job->hooks.data();
      job->req.num_hooks = static_cast<int64_t>(job->hooks.size());
    }
    if (job->req.train) train_bt_ = BT;
    PromiseWorker::Result result = nullptr;
    if (want_loss) result = [job](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, job->loss); };
    return RunAsync(info, std::move(keep), [m, job] { return rl::neox_forward(m, job->batch, job->req); }, std::move(result));
  }

  // backward(lossScale: number, dTokenLogprobs: Float32Array [B,T] | null, dValues: Float32Array [B,T] | null)
  //   → Promise<undefined>. [B,T] is the shape of the last training forward (the core checks that
  //   it was the last forward); the gradients are allocated here, on the JS thread, if not yet made.
  Napi::Value Backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Neox* m = Live(env);
    auto job = std::make_shared<BackwardJob>();
    job->req.loss_scale = static_cast<float>(GetNumber(info[0], "loss"));
    // Lengths: B·T of the last training forward (before any, the core reports the missing forward).
    auto vec = [&](const Napi::Value& v, const char* name, std::vector<float>* dst) -> const float* {
      if (IsAbsent(v)) return nullptr;
      auto a = GetF32(v, name, train_bt_ > 0 ? train_bt_ : -1);
      dst->assign(a.data, a.data + a.length);
      return dst->data();
    };
    job->req.dlogprobs = vec(info[1], "tokenLogprobs", &job->dlogp);
    job->req.dvalues = vec(info[2], "values", &job->dvalues);
    ThrowIfError(env, rl::neox_grads(m, nullptr));
    return RunAsync(info, {}, [m, job] { return rl::neox_backward(m, job->req); }, nullptr);
  }

  // forwardCached(cache: NeoxCacheHandle, { inputIds, attentionMask|null, positionIds|null, B, T,
  //   logits: Float32Array [B,V] (or [B,T,V] with allPositions) | null, allPositions })
  //   → Promise<undefined>. B must be the cache's rows (the core checks it and the free columns).
  Napi::Value ForwardCached(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Neox* m = Live(env);
    Napi::Value cv = info[0];
    if (!cv.IsObject() || !cv.As<Napi::Object>().CheckTypeTag(&kCacheTag)) {
      ThrowType(env, "Expected NeoxCacheHandle for cache but received " + Describe(cv));
    }
    NeoxCacheHandle* ch = NeoxCacheHandle::Unwrap(cv.As<Napi::Object>());
    CacheRef cache = ch->Live(env);
    if (!info[1].IsObject()) ThrowType(env, "Expected object for chunk but received " + Describe(info[1]));
    Napi::Object o = info[1].As<Napi::Object>();
    auto job = std::make_shared<CachedJob>();
    const int64_t B = GetInt(o.Get("B"), "B", 1, int64_t{1} << 30);
    const int64_t T = GetInt(o.Get("T"), "T", 1, int64_t{1} << 30);
    if (B * T > kMaxDim) ThrowRange(env, "Expected B·T <= 2147483648 for inputIds but received " + std::to_string(B * T));
    ReadTokens(o, B, T, "", job.get());
    job->all_positions = !IsAbsent(o.Get("allPositions")) && GetBool(o.Get("allPositions"), "allPositions");
    std::vector<Napi::Value> keep{cv};
    Napi::Value lv = o.Get("logits");
    if (!IsAbsent(lv)) {
      job->logits = GetF32(lv, "logits", (job->all_positions ? B * T : B) * vocab_).data;
      keep.push_back(lv);
    }
    ch->SetBusy(true);
    Napi::Value p = RunAsync(
        info, std::move(keep),
        [m, cache, job] { return rl::neox_forward_cached(m, cache.get(), job->batch, job->logits, job->all_positions); },
        nullptr, [ch, env]() { ch->Settled(env); });
    return p;
  }

  // generate({ inputIds, attentionMask|null, positionIds|null, B, T, maxNewTokens, minNewTokens,
  //   maxNewTokensPerRow: Int32Array [B] | null, temperature, topK, topP, greedy, eosTokenId (−1: none),
  //   padTokenId, seed, tokens: Int32Array [B,maxNewTokens], lengths: Int32Array [B],
  //   logprobs: Float32Array [B,maxNewTokens] | null }) → Promise<undefined>
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    rl::Neox* m = Live(env);
    if (!info[0].IsObject()) ThrowType(env, "Expected object for request but received " + Describe(info[0]));
    Napi::Object o = info[0].As<Napi::Object>();
    auto job = std::make_shared<GenerateJob>();
    const int64_t B = GetInt(o.Get("B"), "B", 1, int64_t{1} << 30);
    const int64_t T = GetInt(o.Get("T"), "T", 1, int64_t{1} << 30);
    if (B * T > kMaxDim) ThrowRange(env, "Expected B·T <= 2147483648 for inputIds but received " + std::to_string(B * T));
    ReadTokens(o, B, T, "", job.get());
    rl::NeoxGenerateOptions& g = job->opts;
    g.max_new_tokens = GetInt(o.Get("maxNewTokens"), "maxNewTokens", 1, int64_t{1} << 24);
    const int64_t S = g.max_new_tokens;
    if (B * S > kMaxDim) ThrowRange(env, "Expected B·maxNewTokens <= 2147483648 for maxNewTokens but received " + std::to_string(B * S));
    g.min_new_tokens = GetInt(o.Get("minNewTokens"), "minNewTokens", 0, S);
    if (!IsAbsent(o.Get("maxNewTokensPerRow"))) {
      auto rm = GetI32(o.Get("maxNewTokensPerRow"), "maxNewTokensPerRow", B);
      job->row_max.assign(rm.data, rm.data + B);
      g.row_max_new_tokens = job->row_max.data();
    }
    g.temperature = static_cast<float>(GetNumber(o.Get("temperature"), "temperature"));
    g.top_k = GetInt(o.Get("topK"), "topK", 0, vocab_);
    g.top_p = static_cast<float>(GetNumber(o.Get("topP"), "topP"));
    g.greedy = GetBool(o.Get("greedy"), "greedy");
    g.eos_token_id = GetInt(o.Get("eosTokenId"), "eosTokenId", -1, vocab_ - 1);
    g.pad_token_id = static_cast<int32_t>(GetInt(o.Get("padTokenId"), "padTokenId", 0, vocab_ - 1));
    g.seed = static_cast<uint64_t>(GetInt(o.Get("seed"), "seed", 0, kMaxSafeInteger));
    std::vector<Napi::Value> keep;
    Napi::Value tv = o.Get("tokens"), lv = o.Get("lengths"), pv = o.Get("logprobs");
    job->out.tokens = GetI32(tv, "tokens", B * S).data;
    job->out.lengths = GetI32(lv, "lengths", B).data;
    keep.push_back(tv);
    keep.push_back(lv);
    if (!IsAbsent(pv)) {
      job->out.logprobs = GetF32(pv, "logprobs", B * S).data;
      keep.push_back(pv);
    }
    return RunAsync(info, std::move(keep), [m, job] { return rl::neox_generate(m, job->batch, job->opts, job->out); }, nullptr);
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    rl::neox_zero_grad(Live(info.Env()));
    return info.Env().Undefined();
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    rl::Neox* m = Live(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(rl::neox_memory_bytes(m)));
  }

  Napi::Value IsBusy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }

  // Idempotent. While an async call runs, the memory is released when it settles.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    if (!busy_) Release(info.Env(), true);
    return info.Env().Undefined();
  }

  ModelRef model_;
  Napi::Reference<Napi::ArrayBuffer> params_ab_, grads_ab_;
  int64_t vocab_ = 0, hidden_ = 0, inter_ = 0, layers_ = 0;
  int64_t train_bt_ = 0;
  bool value_head_ = false;
  bool busy_ = false;
  bool disposed_ = false;
  int64_t tracked_bytes_ = 0;
};

NeoxCacheHandle::NeoxCacheHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NeoxCacheHandle>(info) {
  Napi::Env env = info.Env();
  rl::Neox* m = NeoxHandle::ModelOf(info[0]);
  const int64_t B = GetInt(info[1], "B", 1, int64_t{1} << 30);
  const int64_t max_len = GetInt(info[2], "maxLength", 1, int64_t{1} << 30);
  rl::NeoxCache* c = nullptr;
  ThrowIfError(env, rl::neox_cache_create(m, B, max_len, &c));
  cache_ = CacheRef(c, rl::neox_cache_destroy);
  info.This().As<Napi::Object>().TypeTag(&kCacheTag);
  tracked_bytes_ = static_cast<int64_t>(rl::neox_cache_memory_bytes(c));
  Napi::MemoryManagement::AdjustExternalMemory(env, tracked_bytes_);
}

}  // namespace

void InitNeox(Napi::Env env, Napi::Object exports) {
  exports.Set("NeoxHandle", NeoxHandle::Define(env));
  exports.Set("NeoxCacheHandle", NeoxCacheHandle::Define(env));
}

}  // namespace rl_napi
