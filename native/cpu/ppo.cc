// PPO kernels (TRL 0.7 PPOTrainer formulas; docs/ppo.md writes each one out).
// Forward and backward side by side; plain loops; OpenMP over rows of the big (B,T,V) kernels.
#include "rewardlens/ppo.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "vecmath.h"

namespace rl {

namespace {

// exp_approx (a vectorisable Cephes expf) lives in vecmath.h, shared with the GPT-NeoX kernels.

// Exponents below this give p = 0 exactly in float; clamping there keeps 0·(−inf) out of sums.
constexpr float kLogLo = -88.0f;

constexpr int64_t kChunk = 2048;  // the online max/sum-exp works on 8 KB chunks, read twice from L1

// Every mask entry 0 or 1; returns the count of ones through *sum.
Status check_mask(const uint8_t* mask, int64_t n, const char* name, int64_t* sum) {
  int64_t s = 0;
  for (int64_t i = 0; i < n; i++) {
    if (mask[i] > 1) {
      return Status::Invalid(std::string("Expected 0/1 entries for ") + name + " but received " +
                             std::to_string(mask[i]) + " at index " + std::to_string(i));
    }
    s += mask[i];
  }
  *sum = s;
  return Status::Ok();
}

Status check_dims(int64_t B, int64_t T) {
  RL_CHECK_ARG(B >= 1, "Expected B >= 1 for B but received " + std::to_string(B));
  RL_CHECK_ARG(T >= 1, "Expected T >= 1 for T but received " + std::to_string(T));
  return Status::Ok();
}

Status check_targets(const int32_t* targets, int64_t n, int64_t V) {
  for (int64_t i = 0; i < n; i++) {
    if (targets[i] < -1 || targets[i] >= V) {
      return Status::Invalid("Expected integers in [-1, " + std::to_string(V) +
                             ") for targets but received " + std::to_string(targets[i]) +
                             " at index " + std::to_string(i));
    }
  }
  return Status::Ok();
}

// The index of the first NaN or +Infinity in x[0..n), or −1.
int64_t first_bad_in(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    if (!(x[i] < std::numeric_limits<float>::infinity())) return i;
  }
  return -1;
}

}  // namespace

// ---- token log-probs and entropy ----------------------------------------------------------------

Status token_logprobs_forward(float* logp, float* entropy, float* lse, const float* logits,
                              const int32_t* targets, int64_t B, int64_t T, int64_t V,
                              float temperature) {
  RL_RETURN_IF_ERROR(check_dims(B, T));
  RL_CHECK_ARG(V >= 1, "Expected V >= 1 for V but received " + std::to_string(V));
  RL_CHECK_ARG(std::isfinite(temperature) && temperature > 0,
               "Expected finite number > 0 for temperature but received " + std::to_string(temperature));
  RL_RETURN_IF_ERROR(check_targets(targets, B * T, V));
  const float inv_t = 1.0f / temperature;
  const int64_t rows = B * T;
  int64_t bad_index = std::numeric_limits<int64_t>::max();  // first NaN/+Inf logit seen
  int64_t empty_row = std::numeric_limits<int64_t>::max();  // first row of only −Infinity

#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t r = 0; r < rows; r++) {
    const int32_t y = targets[r];
    if (y < 0) {  // skipped position: not read
      logp[r] = 0.0f;
      entropy[r] = 0.0f;
      lse[r] = 0.0f;
      continue;
    }
    const float* x = logits + r * V;
    // Online max / sum-exp over chunks, merged in double: with M the running max,
    //   S = Σ exp(z − M),  U = Σ exp(z − M)·(z − M);  then lse = M + log S, H = log S − U/S.
    double M = -std::numeric_limits<double>::infinity(), S = 0.0, U = 0.0;
    bool bad = false;
    for (int64_t c0 = 0; c0 < V; c0 += kChunk) {
      const int64_t n = std::min(kChunk, V - c0);
      const float* xc = x + c0;
      float cm = -std::numeric_limits<float>::infinity();
      int nonfinite = 0;
#pragma omp simd reduction(max : cm) reduction(| : nonfinite)
      for (int64_t i = 0; i < n; i++) {
        const float z = xc[i] * inv_t;
        cm = std::max(cm, z);
        nonfinite |= !(xc[i] < std::numeric_limits<float>::infinity());  // NaN or +Inf
      }
      if (nonfinite) {
        const int64_t at = r * V + c0 + first_bad_in(xc, n);
#pragma omp critical(rl_ppo_bad)
        bad_index = std::min(bad_index, at);
        bad = true;
        break;
      }
      if (cm == -std::numeric_limits<float>::infinity()) continue;  // chunk of −Inf: adds 0
      float cs = 0.0f, cu = 0.0f;
#pragma omp simd reduction(+ : cs, cu)
      for (int64_t i = 0; i < n; i++) {
        float d = xc[i] * inv_t - cm;
        d = d < kLogLo ? kLogLo : d;
        const float e = exp_approx(d);
        cs += e;
        cu += e * d;
      }
      // merge (cm, cs, cu) into (M, S, U)
      if (S == 0.0) {
        M = cm;
        S = cs;
        U = cu;
      } else if (cm > M) {
        const double f = std::exp(M - cm);
        U = f * (U + (M - cm) * S) + cu;
        S = f * S + cs;
        M = cm;
      } else {
        const double f = std::exp(static_cast<double>(cm) - M);
        U += f * (cu + (cm - M) * static_cast<double>(cs));
        S += f * cs;
      }
    }
    if (bad) continue;
    if (S == 0.0) {  // every logit of the row is −Infinity
#pragma omp critical(rl_ppo_bad)
      empty_row = std::min(empty_row, r);
      continue;
    }
    const double logS = std::log(S);
    lse[r] = static_cast<float>(M + logS);
    entropy[r] = static_cast<float>(logS - U / S);
    logp[r] = static_cast<float>(static_cast<double>(x[y] * inv_t) - (M + logS));
  }

  if (bad_index != std::numeric_limits<int64_t>::max()) {
    const float v = logits[bad_index];
    return Status::Invalid(std::string("Expected no NaN or +Infinity (the logits contract) for logits but received ") +
                           (std::isnan(v) ? "NaN" : "Infinity") + " at index " + std::to_string(bad_index));
  }
  if (empty_row != std::numeric_limits<int64_t>::max()) {
    return Status::Invalid("Expected at least one logit above -Infinity in each row for logits but received a row of -Infinity at row " +
                           std::to_string(empty_row) + " (index " + std::to_string(empty_row * V) + ")");
  }
  return Status::Ok();
}

Status token_logprobs_backward(float* dlogits, const float* logits, const int32_t* targets,
                               const float* lse, const float* dlogp, const float* dentropy,
                               int64_t B, int64_t T, int64_t V, float temperature) {
  RL_RETURN_IF_ERROR(check_dims(B, T));
  RL_CHECK_ARG(V >= 1, "Expected V >= 1 for V but received " + std::to_string(V));
  RL_CHECK_ARG(std::isfinite(temperature) && temperature > 0,
               "Expected finite number > 0 for temperature but received " + std::to_string(temperature));
  RL_RETURN_IF_ERROR(check_targets(targets, B * T, V));
  const int64_t rows = B * T;
  {  // dlogits is logits itself, or disjoint from it
    const uintptr_t a0 = reinterpret_cast<uintptr_t>(dlogits), a1 = a0 + rows * V * sizeof(float);
    const uintptr_t b0 = reinterpret_cast<uintptr_t>(logits), b1 = b0 + rows * V * sizeof(float);
    RL_CHECK_ARG(a0 == b0 || a1 <= b0 || b1 <= a0,
                 "Expected logits itself or a buffer that does not overlap it for dlogits but received a partly overlapping buffer");
  }
  const float inv_t = 1.0f / temperature;

#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t r = 0; r < rows; r++) {
    const int32_t y = targets[r];
    const float dl = dlogp[r];
    const float dh = dentropy ? dentropy[r] : 0.0f;
    float* out = dlogits + r * V;
    const float* x = logits + r * V;
    if (y < 0 || (dl == 0.0f && dh == 0.0f)) {  // no gradient: logits not read
      std::memset(out, 0, V * sizeof(float));
      continue;
    }
    const float l = lse[r];
    // forward: lp_v = z_v − lse, p_v = exp(lp_v), H = −Σ p_v·lp_v  (H recomputed only if needed)
    float H = 0.0f;
    if (dh != 0.0f) {
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = 0; i < V; i++) {
        float lp = x[i] * inv_t - l;
        lp = lp < kLogLo ? kLogLo : lp;
        acc += exp_approx(lp) * lp;
      }
      H = -acc;
    }
    // backward: dz_v = dl·(1[v=y] − p_v) − dh·p_v·(lp_v + H); dlogits = dz / temperature
    const float a = dl * inv_t, c = dh * inv_t, cH = dh * H * inv_t;
#pragma omp simd
    for (int64_t i = 0; i < V; i++) {
      float lp = x[i] * inv_t - l;
      lp = lp < kLogLo ? kLogLo : lp;
      const float p = exp_approx(lp);
      out[i] = -p * (a + c * lp + cH);
    }
    out[y] += a;
  }
  return Status::Ok();
}

// ---- per-token rewards -----------------------------------------------------------------------

Status kl_penalty_rewards(float* rewards, float* kl, const float* logp, const float* logp_ref,
                          const uint8_t* mask, const float* scores, int64_t B, int64_t T,
                          float kl_coef, KlPenalty kind) {
  RL_RETURN_IF_ERROR(check_dims(B, T));
  RL_CHECK_ARG(kind == KlPenalty::kKl || kind == KlPenalty::kAbs || kind == KlPenalty::kMse,
               "Expected one of \"kl\", \"abs\", \"mse\" for kind but received " +
                   std::to_string(static_cast<int>(kind)));
  int64_t msum = 0;
  RL_RETURN_IF_ERROR(check_mask(mask, B * T, "mask", &msum));
  for (int64_t b = 0; b < B; b++) {
    int64_t last = -1;
    for (int64_t t = 0; t < T; t++) {
      const int64_t i = b * T + t;
      if (!mask[i]) {
        rewards[i] = 0.0f;
        kl[i] = 0.0f;
        continue;
      }
      const float d = logp[i] - logp_ref[i];
      const float k = kind == KlPenalty::kKl ? d : kind == KlPenalty::kAbs ? std::fabs(d) : 0.5f * d * d;
      kl[i] = k;
      rewards[i] = -kl_coef * k;
      last = t;
    }
    if (last < 0) {
      return Status::Invalid("Expected at least one 1 in each row (the score goes on the row's last 1) for mask but received row " +
                             std::to_string(b) + " of zeros");
    }
    rewards[b * T + last] += scores[b];
  }
  return Status::Ok();
}

// ---- GAE -------------------------------------------------------------------------------------

Status gae(float* advantages, float* returns, const float* rewards, const float* values,
           const uint8_t* mask, int64_t B, int64_t T, float gamma, float lam) {
  RL_RETURN_IF_ERROR(check_dims(B, T));
  int64_t msum = 0;
  RL_RETURN_IF_ERROR(check_mask(mask, B * T, "mask", &msum));
  for (int64_t b = 0; b < B; b++) {
    float lastgaelam = 0.0f;
    for (int64_t t = T - 1; t >= 0; t--) {
      const int64_t i = b * T + t;
      const float v = mask[i] ? values[i] : 0.0f;  // values·mask
      const float r = mask[i] ? rewards[i] : 0.0f;  // rewards·mask
      const float nextv = t < T - 1 ? (mask[i + 1] ? values[i + 1] : 0.0f) : 0.0f;
      const float delta = r + gamma * nextv - v;
      lastgaelam = delta + gamma * lam * lastgaelam;
      advantages[i] = lastgaelam;
      returns[i] = lastgaelam + v;
    }
  }
  return Status::Ok();
}

// ---- masked whitening --------------------------------------------------------------------------

Status masked_whiten(float* out, const float* x, const uint8_t* mask, int64_t N, bool shift_mean) {
  RL_CHECK_ARG(N >= 1, "Expected N >= 1 for N but received " + std::to_string(N));
  int64_t msum = 0;
  RL_RETURN_IF_ERROR(check_mask(mask, N, "mask", &msum));
  RL_CHECK_ARG(msum >= 2, "Expected at least 2 entries of 1 (for an unbiased variance) for mask but received " +
                              std::to_string(msum));
  double sum = 0.0;
  for (int64_t i = 0; i < N; i++) sum += mask[i] ? x[i] : 0.0;
  const double mean = sum / msum;
  double ss = 0.0;
  for (int64_t i = 0; i < N; i++) {
    const double c = x[i] - mean;
    ss += mask[i] ? c * c : 0.0;
  }
  const double var = ss / (msum - 1);  // = masked mean of c² times Σm/(Σm − 1)
  const double rs = 1.0 / std::sqrt(var + 1e-8);
  for (int64_t i = 0; i < N; i++) {
    const double w = (x[i] - mean) * rs + (shift_mean ? 0.0 : mean);
    out[i] = mask[i] ? static_cast<float>(w) : 0.0f;
  }
  return Status::Ok();
}

// ---- PPO loss ----------------------------------------------------------------------------------

namespace {
Status check_ppo_config(const PpoLossConfig& cfg) {
  RL_CHECK_ARG(std::isfinite(cfg.cliprange) && cfg.cliprange >= 0,
               "Expected finite number >= 0 for cliprange but received " + std::to_string(cfg.cliprange));
  RL_CHECK_ARG(std::isfinite(cfg.cliprange_value) && cfg.cliprange_value >= 0,
               "Expected finite number >= 0 for clipRangeValue but received " + std::to_string(cfg.cliprange_value));
  RL_CHECK_ARG(std::isfinite(cfg.vf_coef), "Expected finite number for vfCoef but received " + std::to_string(cfg.vf_coef));
  RL_CHECK_ARG(std::isfinite(cfg.ratio_threshold) && cfg.ratio_threshold > 0,
               "Expected finite number > 0 for ratioThreshold but received " + std::to_string(cfg.ratio_threshold));
  return Status::Ok();
}

double clampd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }
}  // namespace

Status ppo_loss_forward(PpoLossStats* stats, const float* logp, const float* old_logp,
                        const float* values, const float* old_values, const float* advantages,
                        const float* returns, const uint8_t* mask, const float* entropy, int64_t B,
                        int64_t T, const PpoLossConfig& cfg) {
  RL_RETURN_IF_ERROR(check_dims(B, T));
  RL_RETURN_IF_ERROR(check_ppo_config(cfg));
  int64_t msum = 0;
  RL_RETURN_IF_ERROR(check_mask(mask, B * T, "mask", &msum));
  RL_CHECK_ARG(msum >= 1, "Expected at least one 1 for mask but received all zeros");
  const double cr = cfg.cliprange, crv = cfg.cliprange_value;
  double pg = 0, vf = 0, pg_cf = 0, vf_cf = 0, akl = 0, pkl = 0, rsum = 0, ent = 0;
  for (int64_t i = 0; i < B * T; i++) {
    if (!mask[i]) continue;
    const double d = static_cast<double>(logp[i]) - old_logp[i];
    const double ratio = std::exp(d);
    const double A = advantages[i];
    const double pg1 = -A * ratio;
    const double pg2 = -A * clampd(ratio, 1.0 - cr, 1.0 + cr);
    pg += std::max(pg1, pg2);
    pg_cf += pg2 > pg1 ? 1.0 : 0.0;
    const double v = values[i], ov = old_values[i], R = returns[i];
    const double vclip = clampd(v, ov - crv, ov + crv);
    const double vf1 = (v - R) * (v - R);
    const double vf2 = (vclip - R) * (vclip - R);
    vf += std::max(vf1, vf2);
    vf_cf += vf2 > vf1 ? 1.0 : 0.0;
    akl += d * d;
    pkl -= d;
    rsum += ratio;
    if (entropy) ent += entropy[i];
  }
  const double n = static_cast<double>(msum);
  PpoLossStats s;
  s.pg_loss = pg / n;
  s.vf_loss = 0.5 * vf / n;
  s.loss = s.pg_loss + cfg.vf_coef * s.vf_loss;
  s.pg_clipfrac = pg_cf / n;
  s.vf_clipfrac = vf_cf / n;
  s.approxkl = 0.5 * akl / n;
  s.policykl = pkl / n;
  s.ratio_mean = rsum / n;
  s.entropy = entropy ? ent / n : 0.0;
  if (s.ratio_mean > cfg.ratio_threshold) {  // TRL: loss, pg_loss, vf_loss multiplied by 0
    s.skipped = true;
    s.loss = s.pg_loss = s.vf_loss = 0.0;
  }
  *stats = s;
  return Status::Ok();
}

Status ppo_loss_backward(float* dlogp, float* dvalues, const float* logp, const float* old_logp,
                         const float* values, const float* old_values, const float* advantages,
                         const float* returns, const uint8_t* mask, int64_t B, int64_t T,
                         const PpoLossConfig& cfg, float dloss) {
  RL_RETURN_IF_ERROR(check_dims(B, T));
  RL_RETURN_IF_ERROR(check_ppo_config(cfg));
  int64_t msum = 0;
  RL_RETURN_IF_ERROR(check_mask(mask, B * T, "mask", &msum));
  RL_CHECK_ARG(msum >= 1, "Expected at least one 1 for mask but received all zeros");
  const double cr = cfg.cliprange, crv = cfg.cliprange_value;
  const double w = static_cast<double>(dloss) / static_cast<double>(msum);  // d(masked mean)/dx_i
  for (int64_t i = 0; i < B * T; i++) {
    if (!mask[i] || dloss == 0.0f) {
      dlogp[i] = 0.0f;
      dvalues[i] = 0.0f;
      continue;
    }
    // forward: ratio = exp(logp − old); pg = max(pg1 = −A·ratio, pg2 = −A·clip(ratio))
    const double ratio = std::exp(static_cast<double>(logp[i]) - old_logp[i]);
    const double A = advantages[i];
    const double rclip = clampd(ratio, 1.0 - cr, 1.0 + cr);
    const double pg1 = -A * ratio, pg2 = -A * rclip;
    // backward: pg1 wins (ties too): d/dlogp = −A·ratio; pg2 wins strictly only when ratio lies
    // outside the clip range (else pg2 == pg1), where clip(ratio) is flat: 0.
    const double dpg = pg1 >= pg2 ? -A * ratio : 0.0;
    dlogp[i] = static_cast<float>(w * dpg);
    // forward: vf = ½·max(vf1 = (v − R)², vf2 = (clip(v, old ± crv) − R)²), times vf_coef
    const double v = values[i], R = returns[i];
    const double vclip = clampd(v, old_values[i] - crv, old_values[i] + crv);
    const double vf1 = (v - R) * (v - R), vf2 = (vclip - R) * (vclip - R);
    // backward: vf1 wins (ties too): ½·2(v − R); vf2 wins strictly only when v is clipped: 0.
    const double dvf = vf1 >= vf2 ? (v - R) : 0.0;
    dvalues[i] = static_cast<float>(w * cfg.vf_coef * dvf);
  }
  return Status::Ok();
}

}  // namespace rl
