// The CUDA backend's ops on pairs of diagonal Gaussians (hierarchical VAEs; the mixture
// terms of the VampPrior and beta-TCVAE's total correlation, joint and per dimension) against the
// CPU backend's, on random inputs: the same kernels/math.h arithmetic on both sides, so
// the differences are rounding only (the tolerances of test_cuda_ops.cc: element-wise
// FP32 rel 1e-5, per-row sums in double rel 1e-5). Backward ops add into random
// gradients, with a weight per row in device memory (the IWAE pass's) or a constant.
#include <gtest/gtest.h>

#include "cuda_compare.h"

namespace elbo {
namespace cuda_test {
namespace {

constexpr double kElemRel = 1e-5, kElemAbs = 1e-6;
constexpr double kRowRel = 1e-5, kRowAbs = 1e-5;

class CudaGaussianPairs : public CudaVsCpu {};

TEST_F(CudaGaussianPairs, KlForwardAndBackward) {
  const int rows = 70, latent = 33;
  Pair q = both_random(size_t(rows) * 2 * latent, -2, 2, 1), p = both_random(size_t(rows) * 2 * latent, -2, 2, 2);
  Pair kl = both_random(rows, -1, 1, 3);  // overwritten
  on_both([&](Backend& be, Side s) {
    be.distributions().kl_gaussians_forward((kl.*s).data(), (q.*s).data(), (p.*s).data(), rows, latent);
  });
  EXPECT_TRUE(all_close(gpu_host(kl), cpu_host(kl), kRowRel, kRowAbs));
  Pair dq = both_random(q.g.size(), -1, 1, 4), dp = both_random(p.g.size(), -1, 1, 5);  // accumulated into
  Pair w = both_random(rows, -2, 2, 6);
  on_both([&](Backend& be, Side s) {
    be.distributions().kl_gaussians_backward((dq.*s).data(), (dp.*s).data(), (q.*s).data(), (p.*s).data(), rows, latent,
                                             Weight::rows((w.*s).data()));
  });
  EXPECT_TRUE(all_close(gpu_host(dq), cpu_host(dq), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(dp), cpu_host(dp), kElemRel, kElemAbs));
  // Only q's gradient (p needs none): the null pointer is skipped.
  on_both([&](Backend& be, Side s) {
    be.distributions().kl_gaussians_backward((dq.*s).data(), nullptr, (q.*s).data(), (p.*s).data(), rows, latent, 0.3f);
  });
  EXPECT_TRUE(all_close(gpu_host(dq), cpu_host(dq), kElemRel, kElemAbs));
}

TEST_F(CudaGaussianPairs, MergeForwardAndBackward) {
  const int rows = 45, latent = 17;
  // Log-variances far apart too: the merge's sigmoid and softplus saturate there.
  Pair a = both_random(size_t(rows) * 2 * latent, -12, 12, 7), b = both_random(size_t(rows) * 2 * latent, -3, 3, 8);
  Pair out = both_random(a.g.size(), -1, 1, 9);  // overwritten
  on_both([&](Backend& be, Side s) {
    be.distributions().gaussian_merge_forward((out.*s).data(), (a.*s).data(), (b.*s).data(), rows, latent);
  });
  EXPECT_TRUE(all_close(gpu_host(out), cpu_host(out), kElemRel, kElemAbs));
  Pair dout = both_random(a.g.size(), -1, 1, 10), da = both_random(a.g.size(), -1, 1, 11),
       db = both_random(b.g.size(), -1, 1, 12);
  on_both([&](Backend& be, Side s) {
    be.distributions().gaussian_merge_backward((da.*s).data(), (db.*s).data(), (dout.*s).data(), (a.*s).data(),
                                               (b.*s).data(), rows, latent);
  });
  EXPECT_TRUE(all_close(gpu_host(da), cpu_host(da), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(db), cpu_host(db), kElemRel, kElemAbs));
}

TEST_F(CudaGaussianPairs, LogRatioForwardAndBackward) {
  const int rows = 64, latent = 50;
  Pair z = both_random(size_t(rows) * latent, -3, 3, 13), eps = both_random(size_t(rows) * latent, -3, 3, 14);
  Pair q = both_random(size_t(rows) * 2 * latent, -2, 2, 15), p = both_random(size_t(rows) * 2 * latent, -2, 2, 16);
  Pair logw = both_random(rows, -5, 5, 17);  // accumulated into
  on_both([&](Backend& be, Side s) {
    be.distributions().gaussian_log_ratio_forward((logw.*s).data(), (z.*s).data(), (eps.*s).data(), (q.*s).data(),
                                                  (p.*s).data(), rows, latent);
  });
  EXPECT_TRUE(all_close(gpu_host(logw), cpu_host(logw), kRowRel, kRowAbs));
  Pair dz = both_random(z.g.size(), -1, 1, 18), dq = both_random(q.g.size(), -1, 1, 19),
       dp = both_random(p.g.size(), -1, 1, 20), w = both_random(rows, -2, 2, 21);
  on_both([&](Backend& be, Side s) {
    be.distributions().gaussian_log_ratio_backward((dz.*s).data(), (dq.*s).data(), (dp.*s).data(), (z.*s).data(),
                                                   (p.*s).data(), rows, latent, Weight::rows((w.*s).data()));
  });
  EXPECT_TRUE(all_close(gpu_host(dz), cpu_host(dz), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(dq), cpu_host(dq), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(dp), cpu_host(dp), kElemRel, kElemAbs));
}

// hvae's bound on predicted log-variances (soft clamp, sigma floor), over a range that
// saturates both, forward and backward (which adds).
TEST_F(CudaGaussianPairs, LogVarianceBoundForwardAndBackward) {
  const int rows = 41, latent = 19;
  Pair stats = both_random(size_t(rows) * 2 * latent, -30, 30, 28);
  Pair out = both_random(stats.g.size(), -1, 1, 29), dout = both_random(stats.g.size(), -1, 1, 30);
  Pair dstats = both_random(stats.g.size(), -1, 1, 31);  // accumulated into
  on_both([&](Backend& be, Side s) {
    be.distributions().bound_logvar_forward((out.*s).data(), (stats.*s).data(), rows, latent, 10.0f, 0.01f);
    be.distributions().bound_logvar_backward((dstats.*s).data(), (dout.*s).data(), (stats.*s).data(), rows, latent,
                                             10.0f, 0.01f);
  });
  EXPECT_TRUE(all_close(gpu_host(out), cpu_host(out), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(dstats), cpu_host(dstats), kElemRel, kElemAbs));
}

// Every sample under every component, summed over the dimensions or per dimension, and
// the backward into the samples and the components, also with one of them not wanted.
TEST_F(CudaGaussianPairs, MixtureLogDensityPairsJointAndPerDimension) {
  const int n = 37, m = 29, latent = 11;
  Pair z = both_random(size_t(n) * latent, -3, 3, 22), stats = both_random(size_t(m) * 2 * latent, -2, 2, 23);
  for (bool per_dimension : {false, true}) {
    const size_t outs = size_t(n) * size_t(m) * (per_dimension ? size_t(latent) : 1);
    Pair out = both_random(outs, -1, 1, 24);  // overwritten
    on_both([&](Backend& be, Side s) {
      be.distributions().gaussian_log_density_pairs((out.*s).data(), (z.*s).data(), (stats.*s).data(), n, m, latent,
                                                    per_dimension);
    });
    EXPECT_TRUE(all_close(gpu_host(out), cpu_host(out), kRowRel, kRowAbs)) << "per_dimension " << per_dimension;
    Pair dout = both_random(outs, -1, 1, 25), dz = both_random(z.g.size(), -1, 1, 26),
         dstats = both_random(stats.g.size(), -1, 1, 27);  // accumulated into
    on_both([&](Backend& be, Side s) {
      be.distributions().gaussian_log_density_pairs_backward((dz.*s).data(), (dstats.*s).data(), (dout.*s).data(),
                                                             (z.*s).data(), (stats.*s).data(), n, m, latent,
                                                             per_dimension);
      be.distributions().gaussian_log_density_pairs_backward(
          nullptr, (dstats.*s).data(), (dout.*s).data(), (z.*s).data(), (stats.*s).data(), n, m, latent, per_dimension);
      be.distributions().gaussian_log_density_pairs_backward((dz.*s).data(), nullptr, (dout.*s).data(), (z.*s).data(),
                                                             (stats.*s).data(), n, m, latent, per_dimension);
    });
    EXPECT_TRUE(all_close(gpu_host(dz), cpu_host(dz), kRowRel, kRowAbs)) << "per_dimension " << per_dimension;
    EXPECT_TRUE(all_close(gpu_host(dstats), cpu_host(dstats), kRowRel, kRowAbs)) << "per_dimension " << per_dimension;
  }
}

}  // namespace
}  // namespace cuda_test
}  // namespace elbo
