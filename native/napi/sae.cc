// Binding for the sae kernels (to be filled in).
#include <napi.h>

#include "napi_util.h"

namespace rl_napi {

void InitSae(Napi::Env, Napi::Object) {}

}  // namespace rl_napi
