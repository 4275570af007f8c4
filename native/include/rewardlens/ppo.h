// rewardlens: the kernels of a PPO step as Hugging Face TRL's classic PPOTrainer (v0.7) computes
// them: token log-probs and entropy from logits, per-token KL-penalty rewards, GAE, masked
// whitening, and the clipped policy + value loss with its gradients. docs/ppo.md writes out every
// formula. All arrays are dense, row-major float32 unless noted; masks are uint8 0/1.
// No function throws or aborts: each returns a Status (kInvalidArgument names the argument).
#pragma once
#include <cstdint>

#include "rewardlens/status.h"

namespace rl {

// ---- token log-probs and entropy (fused, one pass over each row of logits) -------------------
// With z = logits / temperature, per position (b,t) whose target y >= 0:
//   lse = log Σ_v exp(z_v),  logp = z_y − lse,  entropy = −Σ_v p_v log p_v  (p = softmax(z)).
// Positions with target −1 are skipped: their logits are not read, their outputs are 0.
// Logits must hold no NaN and no +Infinity (−Infinity is allowed: p = 0 there); the first bad
// entry found is reported as kInvalidArgument naming logits and its flat index.
Status token_logprobs_forward(float* logp,             // (B,T) out
                              float* entropy,          // (B,T) out
                              float* lse,              // (B,T) out, kept for the backward
                              const float* logits,     // (B,T,V)
                              const int32_t* targets,  // (B,T), each in [−1, V)
                              int64_t B, int64_t T, int64_t V, float temperature);

// Backward of token_logprobs_forward, given dlogp and (optionally, may be null) dentropy:
//   dz_v = dlogp·(1[v=y] − p_v) + dentropy·(−p_v·(log p_v + H)),  dlogits = dz / temperature.
// dlogits may be exactly logits (in place); any other overlap is rejected. Rows with target −1,
// or with dlogp = dentropy = 0, are written as 0 without reading logits. H is recomputed from the
// row (which is then in cache) only where dentropy ≠ 0.
Status token_logprobs_backward(float* dlogits,          // (B,T,V) out, may == logits
                               const float* logits,     // (B,T,V)
                               const int32_t* targets,  // (B,T)
                               const float* lse,        // (B,T) from the forward
                               const float* dlogp,      // (B,T)
                               const float* dentropy,   // (B,T) or null
                               int64_t B, int64_t T, int64_t V, float temperature);

// ---- per-token rewards ----------------------------------------------------------------------
enum class KlPenalty { kKl = 0, kAbs = 1, kMse = 2 };
// d = logp − logp_ref; kl = d (kKl), |d| (kAbs) or ½d² (kMse), at mask = 1 (0 elsewhere);
// rewards = −kl_coef·kl, plus scores[b] at the last position of row b where mask = 1.
// Every row needs at least one mask = 1 (else kInvalidArgument: its score would be lost).
Status kl_penalty_rewards(float* rewards,          // (B,T) out
                          float* kl,               // (B,T) out
                          const float* logp,       // (B,T)
                          const float* logp_ref,   // (B,T)
                          const uint8_t* mask,     // (B,T) 0/1
                          const float* scores,     // (B)
                          int64_t B, int64_t T, float kl_coef, KlPenalty kind);

// ---- generalised advantage estimation (TRL's masked reverse scan) ---------------------------
// r = rewards·mask, v = values·mask; for t = T−1 … 0: delta = r_t + γ·v_{t+1} − v_t (v_T = 0),
// A_t = delta + γλ·A_{t+1} (A_T = 0); returns = A + v. Advantages are not whitened here.
Status gae(float* advantages,     // (B,T) out
           float* returns,        // (B,T) out
           const float* rewards,  // (B,T)
           const float* values,   // (B,T)
           const uint8_t* mask,   // (B,T) 0/1
           int64_t B, int64_t T, float gamma, float lam);

// ---- masked whitening -----------------------------------------------------------------------
// mean = Σ x·m / Σm; var = Σ (x − mean)²·m / (Σm − 1); out = (x − mean)/sqrt(var + 1e-8)
// (+ mean when !shift_mean) where m = 1, and 0 where m = 0. Needs Σm >= 2. out may == x.
Status masked_whiten(float* out,            // (N) out
                     const float* x,        // (N)
                     const uint8_t* mask,   // (N) 0/1
                     int64_t N, bool shift_mean);

// ---- PPO loss (TRL 0.7 PPOTrainer.loss) ------------------------------------------------------
struct PpoLossConfig {
  double cliprange = 0.2;
  double cliprange_value = 0.2;
  double vf_coef = 0.1;
  double ratio_threshold = 10.0;
};

struct PpoLossStats {
  double loss = 0, pg_loss = 0, vf_loss = 0;  // zeroed when skipped
  double pg_clipfrac = 0, vf_clipfrac = 0;
  double approxkl = 0, policykl = 0, ratio_mean = 0;
  double entropy = 0;      // masked mean of the given entropy (0 when none was given)
  bool skipped = false;    // ratio_mean > ratio_threshold: loss zeroed, gradients zero
};

// All masked means are over the whole (B,T) minibatch: Σ x·m / Σm (Σm >= 1 required).
// ratio = exp(logp − old_logp); pg = max(−A·ratio, −A·clip(ratio, 1 ± cliprange));
// vclip = clip(values, old_values ± cliprange_value); vf = ½·max((v − R)², (vclip − R)²);
// loss = mean(pg) + vf_coef·mean(vf).
Status ppo_loss_forward(PpoLossStats* stats,
                        const float* logp,        // (B,T) new log-probs
                        const float* old_logp,    // (B,T)
                        const float* values,      // (B,T) new values
                        const float* old_values,  // (B,T)
                        const float* advantages,  // (B,T) (whitened)
                        const float* returns,     // (B,T)
                        const uint8_t* mask,      // (B,T) 0/1
                        const float* entropy,     // (B,T) or null
                        int64_t B, int64_t T, const PpoLossConfig& cfg);

// d(dloss·loss)/d logp and /d values, exact subgradients; at a tie of a max the unclipped term
// (pg1, vf1) is chosen. Pass dloss = 0 when the forward reported skipped (the loss was ·0).
Status ppo_loss_backward(float* dlogp,             // (B,T) out
                         float* dvalues,           // (B,T) out
                         const float* logp,        // (B,T)
                         const float* old_logp,    // (B,T)
                         const float* values,      // (B,T)
                         const float* old_values,  // (B,T)
                         const float* advantages,  // (B,T)
                         const float* returns,     // (B,T)
                         const uint8_t* mask,      // (B,T) 0/1
                         int64_t B, int64_t T, const PpoLossConfig& cfg, float dloss);

}  // namespace rl
