// rewardlens: the sparse autoencoder (SAE) of the paper (Sharkey et al.; Cunningham et al.), as a
// native handle that owns its parameters, Adam moments and scratch, so that a training step
// (forward + backward + Adam) never copies weights across an API boundary.
//
// Model (n = d_sae features, d = d_in; every matrix row-major):
//   W [n,d] the dictionary; Wn = W with each row scaled to unit L2 norm when normalize_decoder
//   (inside the forward pass, differentiably), else Wn = W.
//   tied:   W_dec = Wn [n,d], W_enc = Wnᵀ [d,n].   untied: W_dec = Wn, W_enc [d,n] a free parameter.
//   x' = x − b_dec if apply_b_dec_to_input else x
//   c  = ReLU(x' W_enc + b_enc)   [B,n]
//   x̂  = c W_dec + b_dec          [B,d]
//   loss = Σ_valid (x̂ − x)² / (Bv·d) + λ · Σ_valid Σ_j |c_bj| / Bv
// where "valid" rows are those whose mask byte is non-zero (all rows when mask is null) and Bv is
// their count. Saved weights use SAELens names and shapes: W_enc [d,n], b_enc [n], W_dec [n,d],
// b_dec [d], with W_dec = Wn (the normalised rows) so SAELens computes the same features.
//
// Inputs x must be finite (every row, masked or not): a non-finite entry is kInvalidArgument,
// naming its index, before any state changes. Every function returns a Status; none throws or
// aborts. A handle is not thread-safe: run one call on it at a time (different handles may run
// concurrently).
#pragma once
#include <cstddef>
#include <cstdint>

#include "rewardlens/status.h"

namespace rl {

enum class SaeInit : int {
  kOrthogonal = 0,  // as torch.nn.init.orthogonal_ on W [n,d] (rows orthonormal if n ≤ d, else columns)
  kKaiming = 1,     // W ~ U(−√(6/d), √(6/d)): kaiming_uniform_ with ReLU gain, fan_in = d
};

struct SaeConfig {
  int64_t d_in = 0;                  // d
  int64_t d_sae = 0;                 // n
  bool tied = true;                  // W_enc = Wnᵀ
  bool normalize_decoder = true;     // unit-norm dictionary rows inside the forward pass
  bool apply_b_dec_to_input = false; // encode x − b_dec instead of x
  float l1_coefficient = 1e-3f;      // λ
  float lr = 1e-3f;                  // Adam (PyTorch semantics, bias-corrected, no weight decay)
  float adam_beta1 = 0.9f;
  float adam_beta2 = 0.999f;
  float adam_eps = 1e-8f;
  SaeInit init = SaeInit::kOrthogonal;
  uint64_t seed = 0;                 // initialisation seed
  int64_t dead_window = 1000;        // a feature is dead after this many steps without firing
};

struct SaeMetrics {
  int64_t step = 0;  // 1-based count of Adam updates (0 from forward / loss_and_grad on a new handle)
  double loss = 0;   // mse + λ·l1
  double mse = 0;    // Σ_valid (x̂ − x)² / (Bv·d)
  double l1 = 0;     // Σ_valid ‖c_b‖₁ / Bv
  double nmse = 0;   // Σ_valid ‖x̂_b − x_b‖² / Σ_valid ‖x_b‖²  (0 when both are 0, +inf when only the denominator is)
  double l0 = 0;     // Σ_valid #{j : c_bj > 0} / Bv
  int64_t dead = 0;  // features that fired on no valid row in the last dead_window steps (step only)
};

// Raw parameter gradients, written by sae_loss_and_grad (W_enc only for untied models).
struct SaeGrads {
  float* W = nullptr;      // [n,d] gradient of the raw (un-normalised) dictionary W
  float* W_enc = nullptr;  // [d,n] untied only (ignored when tied)
  float* b_enc = nullptr;  // [n]
  float* b_dec = nullptr;  // [d]
};

// The handle: opaque outside sae.cc.
struct Sae;

// Creates a handle with freshly initialised parameters (b_enc = b_dec = 0; untied W_enc = Wnᵀ) and
// zero Adam moments. Returns kInvalidArgument for a bad config, kOutOfMemory when allocation fails.
Status sae_create(const SaeConfig& cfg, Sae** out);
void sae_destroy(Sae* sae);  // accepts nullptr

const SaeConfig& sae_config(const Sae* sae);
int64_t sae_step_count(const Sae* sae);
// Bytes held by the handle (parameters, gradients, moments, scratch).
size_t sae_memory_bytes(const Sae* sae);

// One training step on x [rows,d]: forward, backward, Adam update. mask [rows] or nullptr.
Status sae_step(Sae* sae, const float* x, const uint8_t* mask, int64_t rows, SaeMetrics* metrics);

// Forward only: x_hat [rows,d], c [rows,n] (every row, masked or not; metrics over valid rows).
Status sae_forward(Sae* sae, const float* x, const uint8_t* mask, int64_t rows, float* x_hat, float* c,
                   SaeMetrics* metrics);

// Forward and backward without an update: the gradients of the loss with respect to the raw
// parameters (the dictionary W before normalisation).
Status sae_loss_and_grad(Sae* sae, const float* x, const uint8_t* mask, int64_t rows,
                         SaeMetrics* metrics, const SaeGrads& grads);

// c = ReLU(x' W_enc + b_enc) for x [rows,d] → c [rows,n], in chunks of bounded scratch.
Status sae_encode(Sae* sae, const float* x, int64_t rows, float* c);

// SAELens layout copies: W_enc [d,n], b_enc [n], W_dec [n,d] (= Wn), b_dec [d].
Status sae_get_weights(Sae* sae, float* W_enc, float* b_enc, float* W_dec, float* b_dec);
// Loads SAELens weights: the dictionary W = W_dec (re-normalised in the forward pass when
// normalize_decoder, except that rows already at unit norm to within 1e-6 are used bit for bit);
// W_enc is read only for untied models (pass nullptr when tied). Resets the Adam moments, the step
// count and the dead-feature window.
Status sae_set_weights(Sae* sae, const float* W_enc, const float* b_enc, const float* W_dec,
                       const float* b_dec);

// Raw parameters (W before normalisation; W_enc untied only, else ignored). Setting them keeps the
// Adam moments and step count.
Status sae_get_params(const Sae* sae, float* W, float* W_enc, float* b_enc, float* b_dec);
Status sae_set_params(Sae* sae, const float* W, const float* W_enc, const float* b_enc,
                      const float* b_dec);

}  // namespace rl
