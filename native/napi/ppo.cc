// Binding for the ppo kernels (to be filled in).
#include <napi.h>

#include "napi_util.h"

namespace rl_napi {

void InitPpo(Napi::Env, Napi::Object) {}

}  // namespace rl_napi
