// Embedding rewardlens's C++ core in a program of your own: no Node, no exceptions, a Status from
// every call. Trains a sparse autoencoder on synthetic sparse data, compares its dictionary with
// the true one by MMCS, and computes token log-probs as a PPO step would. CI builds and runs it;
// it exits non-zero if any call fails or the SAE learns nothing.
//
//   npx cmake-js compile && ./build/rewardlens_example
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "rewardlens/cosine.h"
#include "rewardlens/ppo.h"
#include "rewardlens/runtime.h"
#include "rewardlens/sae.h"

namespace {

bool check(const rl::Status& s, const char* what) {
  if (!s.ok()) std::fprintf(stderr, "%s failed: %s\n", what, s.message.c_str());
  return s.ok();
}

}  // namespace

int main() {
  std::printf("rewardlens %s, GEMM: %s, threads: %d\n", rl::version(), rl::gemm_backend(), rl::num_threads());

  // Synthetic data: rows are sparse non-negative mixes of 48 unit-norm features in d = 32.
  const int64_t d = 32, features = 48, rows = 8000;
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> pick(0, features - 1);
  std::uniform_real_distribution<float> coef(0.5f, 1.5f);
  std::vector<float> truth(features * d), x(rows * d, 0.f);
  for (int64_t f = 0; f < features; ++f) {
    double norm = 0;
    for (int64_t j = 0; j < d; ++j) norm += std::pow(truth[f * d + j] = normal(gen), 2);
    for (int64_t j = 0; j < d; ++j) truth[f * d + j] /= static_cast<float>(std::sqrt(norm));
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int k = 0; k < 3; ++k) {
      const int f = pick(gen);
      const float a = coef(gen);
      for (int64_t j = 0; j < d; ++j) x[r * d + j] += a * truth[f * d + j];
    }

  // A tied, row-normalised SAE with 64 features.
  rl::SaeConfig cfg;
  cfg.d_in = d;
  cfg.d_sae = 64;
  cfg.l1_coefficient = 1e-2f;
  cfg.seed = 1;
  rl::Sae* sae = nullptr;
  if (!check(rl::sae_create(cfg, &sae), "sae_create")) return 1;
  rl::SaeMetrics m;
  const int64_t batch = 32;
  for (int epoch = 0; epoch < 8; ++epoch)
    for (int64_t r0 = 0; r0 + batch <= rows; r0 += batch)
      if (!check(rl::sae_step(sae, x.data() + r0 * d, nullptr, batch, &m), "sae_step")) return 1;
  std::printf("SAE after %lld steps: mse %.5f  nmse %.3f  L0 %.2f  dead %lld\n", static_cast<long long>(m.step),
              m.mse, m.nmse, m.l0, static_cast<long long>(m.dead));

  // MMCS of the true dictionary against the learned one (W_dec [n,d]).
  std::vector<float> W_enc(d * cfg.d_sae), b_enc(cfg.d_sae), W_dec(cfg.d_sae * d), b_dec(d);
  if (!check(rl::sae_get_weights(sae, W_enc.data(), b_enc.data(), W_dec.data(), b_dec.data()), "sae_get_weights")) return 1;
  double score = 0;
  if (!check(rl::mmcs(truth.data(), features, W_dec.data(), cfg.d_sae, d, &score), "mmcs")) return 1;
  std::printf("MMCS(true dictionary -> learned) %.3f\n", score);
  rl::sae_destroy(sae);

  // Token log-probs and entropy of 2×3 positions over a vocabulary of 5, and a bad argument.
  const int64_t B = 2, T = 3, V = 5;
  std::vector<float> logits(B * T * V), logp(B * T), ent(B * T), lse(B * T);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(0.7 * i));
  std::vector<int32_t> targets = {1, 4, -1, 0, 2, 3};
  if (!check(rl::token_logprobs_forward(logp.data(), ent.data(), lse.data(), logits.data(), targets.data(), B, T, V, 1.f),
             "token_logprobs_forward"))
    return 1;
  std::printf("log p(target): %.4f %.4f %.4f %.4f %.4f %.4f\n", logp[0], logp[1], logp[2], logp[3], logp[4], logp[5]);
  targets[0] = 99;  // out of range: reported as a Status, not a crash
  rl::Status bad = rl::token_logprobs_forward(logp.data(), ent.data(), lse.data(), logits.data(), targets.data(), B, T, V, 1.f);
  std::printf("bad target -> %s\n", bad.ok() ? "ok (unexpected)" : bad.message.c_str());

  return (score > 0.8 && !bad.ok() && logp[2] == 0.f) ? 0 : 1;
}
