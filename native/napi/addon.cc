// Module entry: each op family registers its functions on the exports object.
#include <napi.h>

#include "napi_util.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  rl_napi::InitRuntime(env, exports);
  rl_napi::InitSae(env, exports);
  rl_napi::InitCosine(env, exports);
  rl_napi::InitPpo(env, exports);
  rl_napi::InitOptim(env, exports);
  rl_napi::InitNeox(env, exports);
  rl_napi::InitFs(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(rewardlens, Init)
