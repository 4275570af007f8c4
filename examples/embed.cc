// Embedding rewardlens's C++ core without Node (placeholder until the kernels land).
#include <cstdio>
#include <vector>

#include "rewardlens/gemm.h"
#include "rewardlens/runtime.h"

int main() {
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8}, c(4);
  rl::sgemm(false, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  std::printf("rewardlens %s (%s): [%g %g; %g %g]\n", rl::version(), rl::gemm_backend(), c[0], c[1], c[2], c[3]);
  return (c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50) ? 0 : 1;
}
