// Binding for the cosine kernels (to be filled in).
#include <napi.h>

#include "napi_util.h"

namespace rl_napi {

void InitCosine(Napi::Env, Napi::Object) {}

}  // namespace rl_napi
