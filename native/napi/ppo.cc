// Binding for the PPO kernels (native/cpu/ppo.cc). The two (B,T,V) kernels run on the thread pool
// and return a Promise; the small (B,T) ones are synchronous. Outputs are caller-allocated typed
// arrays (src/rlhf/ppo-kernels.ts allocates them). Every argument is re-checked here (type, length,
// ranges) so that a direct call of the raw binding can never read or write out of bounds.
#include <napi.h>

#include <cstdint>
#include <string>

#include "napi_util.h"
#include "rewardlens/ppo.h"

namespace rl_napi {

namespace {

// A Float32Array, or null/undefined for "not given".
View<float, napi_float32_array> GetOptF32(const Napi::Value& v, const char* name, int64_t expected) {
  if (v.IsNull() || v.IsUndefined()) return {};
  return GetF32(v, name, expected);
}

// True when [a, a + na) and [b, b + nb) (bytes) share any byte.
bool Overlaps(const void* a, size_t na, const void* b, size_t nb) {
  if (!a || !b || na == 0 || nb == 0) return false;
  const auto a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  return a0 < b0 + nb && b0 < a0 + na;
}

// B·T·V as an element count, refusing products no typed array can hold (and int64 overflow).
int64_t BigCount(Napi::Env env, int64_t B, int64_t T, int64_t V) {
  if (B * T > (int64_t{1} << 53) / V) {
    ThrowRange(env, "Expected B*T*V below 2^53 for shape but received B=" + std::to_string(B) +
                        " T=" + std::to_string(T) + " V=" + std::to_string(V));
  }
  return B * T * V;
}

void CheckDisjoint(Napi::Env env, const char* out_name, const void* out, size_t out_bytes,
                   const char* in_name, const void* in, size_t in_bytes) {
  if (Overlaps(out, out_bytes, in, in_bytes)) {
    ThrowRange(env, std::string("Expected a buffer that does not overlap ") + in_name + " for " +
                        out_name + " but received one that does");
  }
}

// ppoTokenLogprobs(logits, targets, B, T, V, temperature, logp, entropy, lse) -> Promise<void>
Napi::Value TokenLogprobs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t B = GetInt(info[2], "B", 1, INT32_MAX);
  const int64_t T = GetInt(info[3], "T", 1, INT32_MAX);
  const int64_t V = GetInt(info[4], "V", 1, INT32_MAX);
  auto logits = GetF32(info[0], "logits", BigCount(env, B, T, V));
  auto targets = GetI32(info[1], "targets", B * T);
  const double temperature = GetNumber(info[5], "temperature");
  if (!(temperature > 0)) ThrowRange(env, "Expected finite number > 0 for temperature but received " + Describe(info[5]));
  auto logp = GetF32(info[6], "logp", B * T);
  auto entropy = GetF32(info[7], "entropy", B * T);
  auto lse = GetF32(info[8], "lse", B * T);
  const size_t small = B * T * sizeof(float), big = B * T * V * sizeof(float);
  const std::pair<const char*, float*> outs[] = {{"logp", logp.data}, {"entropy", entropy.data}, {"lse", lse.data}};
  for (const auto& o : outs) {
    CheckDisjoint(env, o.first, o.second, small, "logits", logits.data, big);
    CheckDisjoint(env, o.first, o.second, small, "targets", targets.data, B * T * sizeof(int32_t));
  }
  CheckDisjoint(env, "entropy", entropy.data, small, "logp", logp.data, small);
  CheckDisjoint(env, "lse", lse.data, small, "logp", logp.data, small);
  CheckDisjoint(env, "lse", lse.data, small, "entropy", entropy.data, small);
  const float temp = static_cast<float>(temperature);
  return PromiseWorker::Run(
      env, {info[0], info[1], info[6], info[7], info[8]},
      [=]() {
        return rl::token_logprobs_forward(logp.data, entropy.data, lse.data, logits.data,
                                          targets.data, B, T, V, temp);
      },
      nullptr);
}

// ppoTokenLogprobsBackward(logits, targets, lse, dlogp, dentropy|null, B, T, V, temperature, out)
//   -> Promise<void>; out may be logits itself.
Napi::Value TokenLogprobsBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t B = GetInt(info[5], "B", 1, INT32_MAX);
  const int64_t T = GetInt(info[6], "T", 1, INT32_MAX);
  const int64_t V = GetInt(info[7], "V", 1, INT32_MAX);
  auto logits = GetF32(info[0], "logits", BigCount(env, B, T, V));
  auto targets = GetI32(info[1], "targets", B * T);
  auto lse = GetF32(info[2], "lse", B * T);
  auto dlogp = GetF32(info[3], "dlogp", B * T);
  auto dentropy = GetOptF32(info[4], "dentropy", B * T);
  const double temperature = GetNumber(info[8], "temperature");
  if (!(temperature > 0)) ThrowRange(env, "Expected finite number > 0 for temperature but received " + Describe(info[8]));
  auto out = GetF32(info[9], "out", BigCount(env, B, T, V));
  const size_t small = B * T * sizeof(float), big = B * T * V * sizeof(float);
  if (out.data != logits.data) CheckDisjoint(env, "out", out.data, big, "logits", logits.data, big);
  CheckDisjoint(env, "out", out.data, big, "targets", targets.data, B * T * sizeof(int32_t));
  CheckDisjoint(env, "out", out.data, big, "lse", lse.data, small);
  CheckDisjoint(env, "out", out.data, big, "dlogp", dlogp.data, small);
  CheckDisjoint(env, "out", out.data, big, "dentropy", dentropy.data, small);
  const float temp = static_cast<float>(temperature);
  return PromiseWorker::Run(
      env, {info[0], info[1], info[2], info[3], info[4], info[9]},
      [=]() {
        return rl::token_logprobs_backward(out.data, logits.data, targets.data, lse.data, dlogp.data,
                                           dentropy.data, B, T, V, temp);
      },
      nullptr);
}

// ppoKlPenaltyRewards(logp, logpRef, mask, scores, B, T, klCoef, kind, rewards, kl) -> undefined
Napi::Value KlPenaltyRewards(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t B = GetInt(info[4], "B", 1, INT32_MAX);
  const int64_t T = GetInt(info[5], "T", 1, INT32_MAX);
  auto logp = GetF32(info[0], "logp", B * T);
  auto logp_ref = GetF32(info[1], "logpRef", B * T);
  auto mask = GetU8(info[2], "mask", B * T);
  auto scores = GetF32(info[3], "scores", B);
  const double kl_coef = GetNumber(info[6], "klCoef");
  if (!info[7].IsString()) ThrowType(env, "Expected one of \"kl\", \"abs\", \"mse\" for kind but received " + Describe(info[7]));
  const std::string kind_name = info[7].As<Napi::String>().Utf8Value();
  rl::KlPenalty kind;
  if (kind_name == "kl") kind = rl::KlPenalty::kKl;
  else if (kind_name == "abs") kind = rl::KlPenalty::kAbs;
  else if (kind_name == "mse") kind = rl::KlPenalty::kMse;
  else ThrowType(env, "Expected one of \"kl\", \"abs\", \"mse\" for kind but received string \"" + kind_name + "\"");
  auto rewards = GetF32(info[8], "rewards", B * T);
  auto kl = GetF32(info[9], "kl", B * T);
  ThrowIfError(env, rl::kl_penalty_rewards(rewards.data, kl.data, logp.data, logp_ref.data, mask.data,
                                           scores.data, B, T, static_cast<float>(kl_coef), kind));
  return env.Undefined();
}

// ppoGae(rewards, values, mask, B, T, gamma, lam, advantages, returns) -> undefined
Napi::Value Gae(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t B = GetInt(info[3], "B", 1, INT32_MAX);
  const int64_t T = GetInt(info[4], "T", 1, INT32_MAX);
  auto rewards = GetF32(info[0], "rewards", B * T);
  auto values = GetF32(info[1], "values", B * T);
  auto mask = GetU8(info[2], "mask", B * T);
  const double gamma = GetNumber(info[5], "gamma");
  const double lam = GetNumber(info[6], "lam");
  auto adv = GetF32(info[7], "advantages", B * T);
  auto ret = GetF32(info[8], "returns", B * T);
  ThrowIfError(env, rl::gae(adv.data, ret.data, rewards.data, values.data, mask.data, B, T,
                            static_cast<float>(gamma), static_cast<float>(lam)));
  return env.Undefined();
}

// ppoMaskedWhiten(x, mask, shiftMean, out) -> undefined; out may be x
Napi::Value MaskedWhiten(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = GetF32(info[0], "x");
  if (x.length == 0) ThrowRange(env, "Expected a non-empty Float32Array for x but received length 0");
  const int64_t n = static_cast<int64_t>(x.length);
  auto mask = GetU8(info[1], "mask", n);
  const bool shift_mean = GetBool(info[2], "shiftMean");
  auto out = GetF32(info[3], "out", n);
  ThrowIfError(env, rl::masked_whiten(out.data, x.data, mask.data, n, shift_mean));
  return env.Undefined();
}

// ppoLoss(logp, oldLogp, values, oldValues, advantages, returns, mask, entropy|null, B, T,
//         cliprange, cliprangeValue, vfCoef, ratioThreshold, dlogp, dvalues) -> stats object
Napi::Value PpoLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t B = GetInt(info[8], "B", 1, INT32_MAX);
  const int64_t T = GetInt(info[9], "T", 1, INT32_MAX);
  const int64_t n = B * T;
  auto logp = GetF32(info[0], "logp", n);
  auto old_logp = GetF32(info[1], "oldLogp", n);
  auto values = GetF32(info[2], "values", n);
  auto old_values = GetF32(info[3], "oldValues", n);
  auto adv = GetF32(info[4], "advantages", n);
  auto ret = GetF32(info[5], "returns", n);
  auto mask = GetU8(info[6], "mask", n);
  auto entropy = GetOptF32(info[7], "entropy", n);
  rl::PpoLossConfig cfg;
  cfg.cliprange = GetNumber(info[10], "cliprange");
  cfg.cliprange_value = GetNumber(info[11], "clipRangeValue");
  cfg.vf_coef = GetNumber(info[12], "vfCoef");
  cfg.ratio_threshold = GetNumber(info[13], "ratioThreshold");
  auto dlogp = GetF32(info[14], "dlogp", n);
  auto dvalues = GetF32(info[15], "dvalues", n);
  rl::PpoLossStats s;
  ThrowIfError(env, rl::ppo_loss_forward(&s, logp.data, old_logp.data, values.data, old_values.data,
                                         adv.data, ret.data, mask.data, entropy.data, B, T, cfg));
  ThrowIfError(env, rl::ppo_loss_backward(dlogp.data, dvalues.data, logp.data, old_logp.data,
                                          values.data, old_values.data, adv.data, ret.data,
                                          mask.data, B, T, cfg, s.skipped ? 0.0f : 1.0f));
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", s.loss);
  o.Set("pgLoss", s.pg_loss);
  o.Set("vfLoss", s.vf_loss);
  o.Set("pgClipfrac", s.pg_clipfrac);
  o.Set("vfClipfrac", s.vf_clipfrac);
  o.Set("approxkl", s.approxkl);
  o.Set("policykl", s.policykl);
  o.Set("ratioMean", s.ratio_mean);
  if (entropy.data) o.Set("entropy", s.entropy);
  o.Set("skipped", s.skipped);
  return o;
}

}  // namespace

void InitPpo(Napi::Env env, Napi::Object exports) {
  exports.Set("ppoTokenLogprobs", Napi::Function::New(env, TokenLogprobs));
  exports.Set("ppoTokenLogprobsBackward", Napi::Function::New(env, TokenLogprobsBackward));
  exports.Set("ppoKlPenaltyRewards", Napi::Function::New(env, KlPenaltyRewards));
  exports.Set("ppoGae", Napi::Function::New(env, Gae));
  exports.Set("ppoMaskedWhiten", Napi::Function::New(env, MaskedWhiten));
  exports.Set("ppoLoss", Napi::Function::New(env, PpoLoss));
}

}  // namespace rl_napi
