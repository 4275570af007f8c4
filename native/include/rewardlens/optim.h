// rewardlens: AdamW and global gradient-norm clipping for any set of float32 tensors.
//
// Semantics follow torch.optim.AdamW (amsgrad off, maximize off) and
// torch.nn.utils.clip_grad_norm_ (L2 norm over all tensors together).
#pragma once
#include <cstdint>
#include <vector>

#include "rewardlens/status.h"

namespace rl {

// Hyperparameters of one AdamW step. lr and weight_decay may differ per tensor (param groups).
struct AdamWHyper {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.01f;
};

// One AdamW step over a flat tensor; t is the step number counted from 1 (for bias correction).
//   param ← param − lr·wd·param                     (decoupled weight decay)
//   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
//   param ← param − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
// param, grad, m, v are [n]; grad may not alias the others.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                float beta1, float beta2, float eps, float weight_decay, int64_t t);

// The same with argument checks (null pointers, n < 0, t < 1, hyperparameters out of range).
Status adamw_step_checked(float* param, const float* grad, float* m, float* v, int64_t n,
                          const AdamWHyper& h, int64_t t);

// *out = Σ over tensors i, elements k of x[i][k]², accumulated in double; x[i] is [sizes[i]].
// Deterministic whatever the thread count (fixed-size chunks summed in a fixed order).
Status grad_norm_sq(const float* const* x, const int64_t* sizes, int64_t count, double* out);

// x[n] *= s.
void scale(float* x, int64_t n, float s);

// Global-norm clipping over `count` tensors: norm = sqrt(grad_norm_sq); when norm > max_norm
// (and is finite) every tensor is scaled by max_norm / (norm + 1e-6). *norm_out gets the norm
// before clipping, like torch.nn.utils.clip_grad_norm_ (which also scales, by a factor
// ≥ 1 − 1e-6/norm, when norm ≤ max_norm; this one leaves the gradients untouched there). A
// non-finite norm (a NaN or Inf gradient) is returned as is and nothing is scaled.
Status clip_grad_norm(float* const* x, const int64_t* sizes, int64_t count, double max_norm,
                      double* norm_out);

// Optimiser state for a list of tensors, held in one allocation per moment (llm.c style): tensor
// i's moments are m[offsets[i] .. offsets[i] + sizes[i]) and likewise v.
struct AdamWState {
  std::vector<int64_t> sizes;    // [count] elements per tensor
  std::vector<int64_t> offsets;  // [count] start of each tensor in m and v
  std::vector<float> m;          // [total] first moments
  std::vector<float> v;          // [total] second moments
  int64_t step = 0;              // steps taken so far
};

// Sizes the state for `count` tensors and zeroes it.
Status adamw_state_init(AdamWState* s, const int64_t* sizes, int64_t count);

// One step over every tensor: params[i] and grads[i] are [s->sizes[i]], lr[i] and wd[i] that
// tensor's learning rate and weight decay. Increments s->step first (bias correction uses it).
Status adamw_state_step(AdamWState* s, float* const* params, const float* const* grads,
                        const float* lr, const float* wd, float beta1, float beta2, float eps);

}  // namespace rl
