// Binding for the optim kernels (to be filled in).
#include <napi.h>

#include "napi_util.h"

namespace rl_napi {

void InitOptim(Napi::Env, Napi::Object) {}

}  // namespace rl_napi
