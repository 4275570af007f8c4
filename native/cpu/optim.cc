// AdamW (torch.optim.AdamW semantics) and global gradient-norm clipping over lists of tensors.
// Work over many tensors is cut into fixed-size chunks, (tensor, start, length), and the chunks are
// spread over the OpenMP threads: one parallel loop whether there are 3 large tensors or 300 small
// ones, and chunk boundaries that do not depend on the thread count.
#include "rewardlens/optim.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <string>

#include "rewardlens/runtime.h"

namespace rl {

namespace {

constexpr int64_t kChunk = int64_t{1} << 15;  // elements per work item (128 KiB of float32)
// Below this many elements in all, one thread does the pass: while the tensors fit in cache one
// thread streams them as fast as two, and waking a team costs extra. Measured on the 2-core
// machine we tuned on: AdamW over 1M elements 267 µs on one thread, 283 µs on two; over 4M,
// 2.5 ms and 1.9 ms (grad norm: 66 vs 76 µs, 270 vs 201 µs).
constexpr int64_t kMinParallel = int64_t{1} << 21;

int64_t total_of(const int64_t* sizes, int64_t count) {
  int64_t t = 0;
  for (int64_t i = 0; i < count; ++i) t += sizes[i];
  return t;
}

struct Chunk {
  int64_t tensor;  // which tensor
  int64_t start;   // first element
  int64_t len;     // elements
};

std::vector<Chunk> make_chunks(const int64_t* sizes, int64_t count) {
  std::vector<Chunk> chunks;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t s = 0; s < sizes[i]; s += kChunk)
      chunks.push_back({i, s, std::min(kChunk, sizes[i] - s)});
  return chunks;
}

// x is [n]: Σ x[k]² in double.
double sum_sq(const float* x, int64_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < n; ++k) s += static_cast<double>(x[k]) * x[k];
  return s;
}

// The elementwise update with its scalars already folded (see adamw_step).
struct AdamWScalars {
  float decay;      // 1 − lr·wd
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float step_size;  // lr / (1 − β1ᵗ)
  float inv_bc2_sqrt;  // 1 / √(1 − β2ᵗ)
  float eps;
};

AdamWScalars fold(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t) {
  const double td = static_cast<double>(t);
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), td);
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), td);
  AdamWScalars s;
  s.decay = static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay);
  s.beta1 = beta1;
  s.one_minus_beta1 = static_cast<float>(1.0 - beta1);
  s.beta2 = beta2;
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.step_size = static_cast<float>(lr / bc1);
  s.inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bc2));
  s.eps = eps;
  return s;
}

// param, grad, m, v are [n].
void adamw_kernel(float* __restrict param, const float* __restrict grad, float* __restrict m,
                  float* __restrict v, int64_t n, const AdamWScalars& s) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    const float g = grad[k];
    const float p = param[k] * s.decay;
    const float mk = s.beta1 * m[k] + s.one_minus_beta1 * g;
    const float vk = s.beta2 * v[k] + s.one_minus_beta2 * g * g;
    m[k] = mk;
    v[k] = vk;
    param[k] = p - s.step_size * mk / (std::sqrt(vk) * s.inv_bc2_sqrt + s.eps);
  }
}

Status check_hyper(float lr, float beta1, float beta2, float eps, float wd) {
  RL_CHECK_ARG(std::isfinite(lr) && lr >= 0.0f,
               "adamw: expected finite lr >= 0 but received " + std::to_string(lr));
  RL_CHECK_ARG(beta1 >= 0.0f && beta1 < 1.0f,
               "adamw: expected 0 <= beta1 < 1 but received " + std::to_string(beta1));
  RL_CHECK_ARG(beta2 >= 0.0f && beta2 < 1.0f,
               "adamw: expected 0 <= beta2 < 1 but received " + std::to_string(beta2));
  RL_CHECK_ARG(std::isfinite(eps) && eps >= 0.0f,
               "adamw: expected finite eps >= 0 but received " + std::to_string(eps));
  RL_CHECK_ARG(std::isfinite(wd) && wd >= 0.0f,
               "adamw: expected finite weight_decay >= 0 but received " + std::to_string(wd));
  return Status::Ok();
}

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr,
                float beta1, float beta2, float eps, float weight_decay, int64_t t) {
  const AdamWScalars s = fold(lr, beta1, beta2, eps, weight_decay, t);
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (n > kMinParallel)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t k0 = c * kChunk;
    const int64_t len = std::min(kChunk, n - k0);
    adamw_kernel(param + k0, grad + k0, m + k0, v + k0, len, s);
  }
}

Status adamw_step_checked(float* param, const float* grad, float* m, float* v, int64_t n,
                          const AdamWHyper& h, int64_t t) {
  RL_CHECK_ARG(n >= 0, "adamw: expected n >= 0 but received " + std::to_string(n));
  RL_CHECK_ARG(n == 0 || (param && grad && m && v), "adamw: param, grad, m, v must not be null");
  RL_CHECK_ARG(t >= 1, "adamw: expected step t >= 1 but received " + std::to_string(t));
  RL_RETURN_IF_ERROR(check_hyper(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay));
  adamw_step(param, grad, m, v, n, h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, t);
  return Status::Ok();
}

static Status check_list(const void* const* x, const int64_t* sizes, int64_t count) {
  RL_CHECK_ARG(count >= 0, "grad norm: expected count >= 0 but received " + std::to_string(count));
  RL_CHECK_ARG(count == 0 || (x != nullptr && sizes != nullptr), "grad norm: null tensor list");
  for (int64_t i = 0; i < count; ++i) {
    RL_CHECK_ARG(sizes[i] >= 0, "grad norm: expected size >= 0 for tensor " + std::to_string(i) +
                                    " but received " + std::to_string(sizes[i]));
    RL_CHECK_ARG(sizes[i] == 0 || x[i] != nullptr, "grad norm: null tensor " + std::to_string(i));
  }
  return Status::Ok();
}

Status grad_norm_sq(const float* const* x, const int64_t* sizes, int64_t count, double* out) {
  RL_CHECK_ARG(out != nullptr, "grad norm: out must not be null");
  RL_RETURN_IF_ERROR(check_list(reinterpret_cast<const void* const*>(x), sizes, count));
  std::vector<Chunk> chunks;
  std::vector<double> partial;
  try {
    chunks = make_chunks(sizes, count);
    partial.resize(chunks.size());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("grad norm: out of memory");
  }
  const int64_t nc = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static) num_threads(num_threads()) \
    if (total_of(sizes, count) > kMinParallel)
  for (int64_t c = 0; c < nc; ++c) {
    const Chunk& ch = chunks[static_cast<size_t>(c)];
    partial[static_cast<size_t>(c)] = sum_sq(x[ch.tensor] + ch.start, ch.len);
  }
  double s = 0.0;
  for (double p : partial) s += p;  // fixed order: same result on any thread count
  *out = s;
  return Status::Ok();
}

void scale(float* x, int64_t n, float s) {
#pragma omp parallel for simd schedule(static) num_threads(num_threads()) if (n > kMinParallel)
  for (int64_t k = 0; k < n; ++k) x[k] *= s;
}

Status clip_grad_norm(float* const* x, const int64_t* sizes, int64_t count, double max_norm,
                      double* norm_out) {
  RL_CHECK_ARG(norm_out != nullptr, "clip grad norm: norm_out must not be null");
  RL_CHECK_ARG(max_norm >= 0.0 && std::isfinite(max_norm),
               "clip grad norm: expected finite max_norm >= 0 but received " +
                   std::to_string(max_norm));
  double sq = 0.0;
  RL_RETURN_IF_ERROR(grad_norm_sq(x, sizes, count, &sq));
  const double norm = std::sqrt(sq);
  if (std::isfinite(norm) && norm > max_norm) {
    const float s = static_cast<float>(max_norm / (norm + 1e-6));
    for (int64_t i = 0; i < count; ++i) scale(x[i], sizes[i], s);
  }
  *norm_out = norm;
  return Status::Ok();
}

Status adamw_state_init(AdamWState* s, const int64_t* sizes, int64_t count) {
  RL_CHECK_ARG(s != nullptr, "adamw: state must not be null");
  RL_CHECK_ARG(count >= 0 && (count == 0 || sizes != nullptr), "adamw: bad tensor list");
  try {
    s->sizes.assign(sizes, sizes + count);
    s->offsets.resize(static_cast<size_t>(count));
    int64_t total = 0;
    for (int64_t i = 0; i < count; ++i) {
      RL_CHECK_ARG(sizes[i] >= 0, "adamw: expected size >= 0 for tensor " + std::to_string(i) +
                                      " but received " + std::to_string(sizes[i]));
      s->offsets[static_cast<size_t>(i)] = total;
      total += sizes[i];
    }
    s->m.assign(static_cast<size_t>(total), 0.0f);
    s->v.assign(static_cast<size_t>(total), 0.0f);
    s->step = 0;
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("adamw: out of memory for the optimiser state");
  }
  return Status::Ok();
}

Status adamw_state_step(AdamWState* s, float* const* params, const float* const* grads,
                        const float* lr, const float* wd, float beta1, float beta2, float eps) {
  RL_CHECK_ARG(s != nullptr, "adamw: state must not be null");
  const int64_t count = static_cast<int64_t>(s->sizes.size());
  for (int64_t i = 0; i < count; ++i) {
    RL_CHECK_ARG(s->sizes[static_cast<size_t>(i)] == 0 || (params[i] && grads[i]),
                 "adamw: null param or grad for tensor " + std::to_string(i));
    RL_RETURN_IF_ERROR(check_hyper(lr[i], beta1, beta2, eps, wd[i]));
  }
  const int64_t t = s->step + 1;
  std::vector<AdamWScalars> folded(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) folded[static_cast<size_t>(i)] = fold(lr[i], beta1, beta2, eps, wd[i], t);
  std::vector<Chunk> chunks;
  try {
    chunks = make_chunks(s->sizes.data(), count);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("adamw: out of memory");
  }
  const int64_t nc = static_cast<int64_t>(chunks.size());
#pragma omp parallel for schedule(static) num_threads(num_threads()) \
    if (total_of(s->sizes.data(), count) > kMinParallel)
  for (int64_t c = 0; c < nc; ++c) {
    const Chunk& ch = chunks[static_cast<size_t>(c)];
    const size_t off = static_cast<size_t>(s->offsets[static_cast<size_t>(ch.tensor)] + ch.start);
    adamw_kernel(params[ch.tensor] + ch.start, grads[ch.tensor] + ch.start, s->m.data() + off,
                 s->v.data() + off, ch.len, folded[static_cast<size_t>(ch.tensor)]);
  }
  s->step = t;
  return Status::Ok();
}

}  // namespace rl
