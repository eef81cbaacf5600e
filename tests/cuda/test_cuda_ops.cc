// Op-by-op comparison of the CUDA backend with the CPU backend on random inputs.
// Both run the same shared arithmetic (kernels/math.h), so the differences are
// rounding only; the tolerances below say how much each kind of op may differ:
//   element-wise FP32   rel 1e-5, abs 1e-6: libdevice's expf/log1pf/tanhf/cosf are
//                       within 2 ulp of glibc's, and nvcc contracts a*b+c into FMA
//   per-row sums        rel 1e-5: double accumulation on both sides, different order
//   GEMM FP32           1e-4 x sum_k |a||b|; TF32 4e-3 and BF16 2e-2 of the same
//                       (inputs rounded to 10 / 7 mantissa bits by the tensor cores)
//   Philox uniforms     exact: binarize must flip exactly the same pixels
//   Philox normals      rel 1e-5: the shared Box-Muller (kernels/math.h's log and cos),
//                       with FMAs that nvcc contracts and the CPU does not
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cuda_compare.h"
#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {
namespace cuda_test {
namespace {

constexpr double kElemRel = 1e-5, kElemAbs = 1e-6;
constexpr double kRowRel = 1e-5, kRowAbs = 1e-5;

const Activation kActivations[] = {Activation::kIdentity, Activation::kReLU,      Activation::kTanh,
                                   Activation::kSigmoid,  Activation::kLeakyReLU, Activation::kELU};

class CudaOps : public CudaVsCpu {
 protected:
  // GEMM check against the CPU, error bounded by tol * (|alpha| sum_k |a||b| + |beta c|);
  // layer: through layer_gemms (the backend's train.precision), else gemm (always FP32).
  void check_gemm(Backend& gpu, bool ta, bool tb, int m, int n, int k, float alpha, float beta, double tol,
                  bool layer = false) {
    SCOPED_TRACE(::testing::Message() << "trans_a " << ta << " trans_b " << tb << " m " << m << " n " << n << " k "
                                      << k << " " << gpu.name());
    const std::vector<float> a_h = random_vec(size_t(m) * k, -1, 1, 11), b_h = random_vec(size_t(k) * n, -1, 1, 12),
                             c_h = random_vec(size_t(m) * n, -1, 1, 13);
    DeviceBuffer a(&gpu, a_h.size()), b(&gpu, b_h.size()), c(&gpu, c_h.size());
    gpu.copy_to_device(a.data(), a_h.data(), a_h.size());
    gpu.copy_to_device(b.data(), b_h.data(), b_h.size());
    gpu.copy_to_device(c.data(), c_h.data(), c_h.size());
    const GemmArgs args{ta, tb, m, n, k, alpha, a.data(), b.data(), beta, c.data()};
    if (layer) gpu.layer_gemms(&args, 1);
    else gpu.gemm(args);
    std::vector<float> got = host(gpu, c);

    std::vector<float> want = c_h, bound(c_h.size());
    std::vector<float> a_abs = a_h, b_abs = b_h;
    for (auto& x : a_abs) x = std::fabs(x);
    for (auto& x : b_abs) x = std::fabs(x);
    cpu_->gemm(ta, tb, m, n, k, alpha, a_h.data(), b_h.data(), beta, want.data());
    cpu_->gemm(ta, tb, m, n, k, std::fabs(alpha), a_abs.data(), b_abs.data(), 0.0f, bound.data());
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double allowed = tol * (bound[i] + std::fabs(beta * c_h[i])) + 1e-6;
      if (!(std::fabs(double(got[i]) - want[i]) <= allowed)) {
        if (bad++ == 0)
          ADD_FAILURE() << "C[" << i << "]: got " << got[i] << " want " << want[i] << " allowed error " << allowed;
      }
    }
    EXPECT_EQ(bad, 0u) << "elements beyond tolerance";
  }
};

TEST_F(CudaOps, GemmFp32AllTransposes) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm(*gpu_, ta, tb, 37, 19, 53, 0.7f, 0.3f, 1e-4);
      check_gemm(*gpu_, ta, tb, 128, 300, 257, 1.0f, 0.0f, 1e-4);
    }
}

// k = 0: C = beta * C (checked directly: OpenBLAS rejects lda = 0 for this shape).
TEST_F(CudaOps, GemmWithEmptyInnerDimensionScalesC) {
  for (float beta : {0.0f, 0.5f, 1.0f}) {
    const std::vector<float> c_h = random_vec(35, -1, 1, 14);
    DeviceBuffer c(gpu_.get(), c_h.size());
    gpu_->copy_to_device(c.data(), c_h.data(), c_h.size());
    gpu_->gemm(false, false, 5, 7, 0, 1.0f, nullptr, nullptr, beta, c.data());
    std::vector<float> want = c_h;
    for (auto& x : want) x *= beta;
    EXPECT_TRUE(all_close(host(*gpu_, c), want, 0.0, 0.0)) << "beta " << beta;  // 0 * c may be -0
  }
}

// The layers' GEMMs in TF32 / BF16; every other GEMM (reductions against a ones vector)
// stays FP32 on those backends too.
TEST_F(CudaOps, GemmTf32AndBf16WithinTheirPrecision) {
  auto tf32 = make_cuda_backend(0, GemmPrecision::kTF32);
  auto bf16 = make_cuda_backend(0, GemmPrecision::kBF16);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm(*tf32, ta, tb, 96, 160, 512, 1.0f, 0.5f, 4e-3, true);
      check_gemm(*bf16, ta, tb, 96, 160, 512, 1.0f, 0.5f, 2e-2, true);
      check_gemm(*bf16, ta, tb, 96, 160, 512, 1.0f, 0.5f, 1e-4, false);
    }
}

TEST_F(CudaOps, GemmRejectsNegativeSizes) {
  EXPECT_THROW(gpu_->gemm(false, false, -1, 2, 2, 1.0f, nullptr, nullptr, 0.0f, nullptr), Error);
}

TEST_F(CudaOps, BiasActForwardAndBackwardEveryActivation) {
  const int rows = 33, cols = 70;
  for (Activation act : kActivations) {
    SCOPED_TRACE(::testing::Message() << "activation " << int(act));
    Pair y = both_random(size_t(rows) * cols, -3, 3, 1), bias = both_random(cols, -1, 1, 2);
    on_both([&](Backend& be, Side s) { be.bias_act_forward((y.*s).data(), (bias.*s).data(), rows, cols, act); });
    EXPECT_TRUE(all_close(gpu_host(y), cpu_host(y), kElemRel, kElemAbs));

    // Out of place, then in place (dx aliases dy).
    Pair dy = both_random(y.g.size(), -2, 2, 3), dx = both_zero(y.g.size());
    on_both([&](Backend& be, Side s) { be.act_backward((dx.*s).data(), (dy.*s).data(), (y.*s).data(), dy.g.size(), act); });
    EXPECT_TRUE(all_close(gpu_host(dx), cpu_host(dx), kElemRel, kElemAbs));
    on_both([&](Backend& be, Side s) { be.act_backward((dy.*s).data(), (dy.*s).data(), (y.*s).data(), dy.g.size(), act); });
    EXPECT_TRUE(all_close(gpu_host(dy), cpu_host(dy), kElemRel, kElemAbs));
    // In place gives the same bits as out of place, on each backend.
    EXPECT_TRUE(bitwise_equal(gpu_host(dy), gpu_host(dx)));
    EXPECT_TRUE(bitwise_equal(cpu_host(dy), cpu_host(dx)));
  }
}

TEST_F(CudaOps, BiasGradAccumulatesColumnSumsDeterministically) {
  const int rows = 301, cols = 70;
  Pair dy = both_random(size_t(rows) * cols, -1, 1, 4), db = both_random(cols, -1, 1, 5);
  on_both([&](Backend& be, Side s) { be.bias_grad((db.*s).data(), (dy.*s).data(), rows, cols); });
  const std::vector<float> first = gpu_host(db);
  EXPECT_TRUE(all_close(first, cpu_host(db), kRowRel, kRowAbs));
  // Same inputs, same bits.
  Pair db2 = both(random_vec(cols, -1, 1, 5));
  gpu_->bias_grad(db2.g.data(), dy.g.data(), rows, cols);
  EXPECT_TRUE(bitwise_equal(gpu_host(db2), first));
}

TEST_F(CudaOps, AxpyAndScale) {
  const size_t n = 100003;
  Pair y = both_random(n, -1, 1, 6), x = both_random(n, -1, 1, 7);
  on_both([&](Backend& be, Side s) { be.axpy((y.*s).data(), (x.*s).data(), n, -0.37f); });
  EXPECT_TRUE(all_close(gpu_host(y), cpu_host(y), kElemRel, kElemAbs));
  on_both([&](Backend& be, Side s) { be.scale((y.*s).data(), n, 1.7f); });
  EXPECT_TRUE(all_close(gpu_host(y), cpu_host(y), kElemRel, kElemAbs));
}

// stats rows are (mu | logvar): mu in [-2, 2], logvar in [-3, 2].
std::vector<float> random_stats(int rows, int latent, uint32_t seed) {
  std::vector<float> s = random_vec(size_t(rows) * 2 * latent, -2, 2, seed);
  std::vector<float> lv = random_vec(size_t(rows) * latent, -3, 2, seed + 1000);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < latent; ++j) s[size_t(r) * 2 * latent + latent + j] = lv[size_t(r) * latent + j];
  return s;
}

TEST_F(CudaOps, ReparameterizeDrawsTheCpuNoiseAndBackwardMatches) {
  const int rows = 65, latent = 37;
  // A serial past 2^32 and a non-zero element offset exercise every word of the Philox counter.
  const NoiseKey key{0x1234abcd5678ull, kRngReparam, (1ull << 40) + 5, 17};
  Pair stats = both(random_stats(rows, latent, 8));
  Pair z = both_zero(size_t(rows) * latent), eps = both_zero(size_t(rows) * latent);
  on_both([&](Backend& be, Side s) {
    be.distributions().reparameterize((z.*s).data(), (eps.*s).data(), (stats.*s).data(), rows, latent, key);
  });
  const std::vector<float> eps_gpu = gpu_host(eps);
  EXPECT_TRUE(all_close(eps_gpu, cpu_host(eps), kElemRel, kElemAbs)) << "eps";
  EXPECT_TRUE(all_close(gpu_host(z), cpu_host(z), kElemRel, 1e-5)) << "z";

  // Deterministic on the GPU; another serial gives other noise.
  gpu_->distributions().reparameterize(z.g.data(), eps.g.data(), stats.g.data(), rows, latent, key);
  EXPECT_TRUE(bitwise_equal(gpu_host(eps), eps_gpu));
  NoiseKey other = key;
  other.row_serial0 += rows;
  gpu_->distributions().reparameterize(z.g.data(), eps.g.data(), stats.g.data(), rows, latent, other);
  EXPECT_FALSE(all_close(gpu_host(eps), eps_gpu, 0.0, 1e-3));

  // Backward accumulates into dstats (use the CPU's eps on both sides).
  std::vector<float> eps_h = cpu_host(eps);
  Pair eps_same = both(eps_h);
  Pair dz = both_random(size_t(rows) * latent, -1, 1, 9), dstats = both_random(stats.g.size(), -1, 1, 10);
  on_both([&](Backend& be, Side s) {
    be.distributions().reparameterize_backward((dstats.*s).data(), (dz.*s).data(), (eps_same.*s).data(),
                                               (stats.*s).data(), rows, latent);
  });
  EXPECT_TRUE(all_close(gpu_host(dstats), cpu_host(dstats), kElemRel, kElemAbs));
}

TEST_F(CudaOps, KlForwardAndBackward) {
  const int rows = 70, latent = 33;
  Pair stats = both(random_stats(rows, latent, 11));
  Pair kl = both_random(rows, -1, 1, 12);  // overwritten
  on_both([&](Backend& be, Side s) { be.distributions().kl_forward((kl.*s).data(), (stats.*s).data(), rows, latent); });
  EXPECT_TRUE(all_close(gpu_host(kl), cpu_host(kl), kRowRel, kRowAbs));
  Pair dstats = both_random(stats.g.size(), -1, 1, 13);  // accumulated into
  on_both([&](Backend& be, Side s) {
    be.distributions().kl_backward((dstats.*s).data(), (stats.*s).data(), rows, latent, 0.3f);
  });
  EXPECT_TRUE(all_close(gpu_host(dstats), cpu_host(dstats), kElemRel, kElemAbs));
}

TEST_F(CudaOps, BernoulliNllForwardAndBackward) {
  const int rows = 40, dim = 784;
  Pair logits = both_random(size_t(rows) * dim, -8, 8, 14), x = both_random(size_t(rows) * dim, 0, 1, 15);
  Pair nll = both_zero(rows), dlogits = both_random(size_t(rows) * dim, -1, 1, 16);  // assigned
  on_both([&](Backend& be, Side s) {
    be.distributions().bernoulli_nll_forward((nll.*s).data(), (logits.*s).data(), (x.*s).data(), rows, dim);
  });
  EXPECT_TRUE(all_close(gpu_host(nll), cpu_host(nll), kRowRel, kRowAbs));
  on_both([&](Backend& be, Side s) {
    be.distributions().bernoulli_nll_backward((dlogits.*s).data(), (logits.*s).data(), (x.*s).data(), rows, dim, 0.25f);
  });
  EXPECT_TRUE(all_close(gpu_host(dlogits), cpu_host(dlogits), kElemRel, kElemAbs));
}

TEST_F(CudaOps, GaussianNllForwardAndBackward) {
  const int rows = 31, dim = 129;
  std::vector<float> out_h = random_vec(size_t(rows) * 2 * dim, -1, 1, 17);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < dim; ++j) out_h[size_t(r) * 2 * dim + dim + j] *= 2.0f;  // logvar in [-2, 2]
  Pair out = both(out_h), x = both_random(size_t(rows) * dim, -1.5, 1.5, 18);
  Pair nll = both_zero(rows), dout = both_random(out_h.size(), -1, 1, 19);  // assigned
  on_both([&](Backend& be, Side s) {
    be.distributions().gaussian_nll_forward((nll.*s).data(), (out.*s).data(), (x.*s).data(), rows, dim);
  });
  EXPECT_TRUE(all_close(gpu_host(nll), cpu_host(nll), kRowRel, kRowAbs));
  on_both([&](Backend& be, Side s) {
    be.distributions().gaussian_nll_backward((dout.*s).data(), (out.*s).data(), (x.*s).data(), rows, dim, 0.5f);
  });
  EXPECT_TRUE(all_close(gpu_host(dout), cpu_host(dout), kElemRel, kElemAbs));
}

// The discretized logistic: 8-bit values (the edge bins 0 and 1 included), log-scales from
// -11.2 (under the -7 floor) to 4.2 (wide bins against the scale), per-row weights.
TEST_F(CudaOps, DiscretizedLogisticNllForwardAndBackward) {
  const int rows = 29, dim = 131;
  std::vector<float> out_h = random_vec(size_t(rows) * 2 * dim, -0.2f, 1.2f, 40);
  std::vector<float> x_h = random_vec(size_t(rows) * dim, 0, 1, 41);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < dim; ++j) out_h[size_t(r) * 2 * dim + dim + j] = -9.0f + 11.0f * out_h[size_t(r) * 2 * dim + dim + j];
  for (size_t i = 0; i < x_h.size(); ++i) x_h[i] = i % 7 == 0 ? 0.0f : i % 11 == 0 ? 1.0f : std::round(x_h[i] * 255) / 255;
  Pair out = both(out_h), x = both(x_h), w = both_random(rows, -2, 2, 42);
  Pair nll = both_zero(rows), dout = both_random(out_h.size(), -1, 1, 43);  // assigned
  on_both([&](Backend& be, Side s) {
    be.distributions().dlogistic_nll_forward((nll.*s).data(), (out.*s).data(), (x.*s).data(), rows, dim);
  });
  EXPECT_TRUE(all_close(gpu_host(nll), cpu_host(nll), kRowRel, kRowAbs));
  on_both([&](Backend& be, Side s) {
    be.distributions().dlogistic_nll_backward((dout.*s).data(), (out.*s).data(), (x.*s).data(), rows, dim,
                                              Weight::rows((w.*s).data()));
  });
  EXPECT_TRUE(all_close(gpu_host(dout), cpu_host(dout), kElemRel, kElemAbs));
}

TEST_F(CudaOps, RepeatRowsIsExact) {
  const int rows = 9, cols = 23, times = 5;
  Pair src = both_random(size_t(rows) * cols, -1, 1, 20), dst = both_zero(size_t(rows) * times * cols);
  on_both([&](Backend& be, Side s) { be.repeat_rows((dst.*s).data(), (src.*s).data(), rows, cols, times); });
  EXPECT_TRUE(bitwise_equal(gpu_host(dst), cpu_host(dst)));
}

TEST_F(CudaOps, ImportanceWeightTerms) {
  const int rows = 48, latent = 20, k_count = 50;
  Pair stats = both(random_stats(rows, latent, 21));
  Pair z = both_random(size_t(rows) * latent, -3, 3, 22), eps = both_random(size_t(rows) * latent, -3, 3, 23);
  Pair logw = both_random(rows, -5, 5, 24);  // accumulated into
  on_both([&](Backend& be, Side s) {
    be.distributions().prior_minus_posterior_log_density((logw.*s).data(), (z.*s).data(), (eps.*s).data(),
                                                         (stats.*s).data(), rows, latent);
  });
  EXPECT_TRUE(all_close(gpu_host(logw), cpu_host(logw), kRowRel, kRowAbs));

  // Wide spread, so the max-shift matters; k = 1 is log(exp(x)) = x.
  for (int k : {1, k_count}) {
    Pair in = both_random(size_t(rows) * k, -100, 10, 25), out = both_zero(rows);
    on_both(
        [&](Backend& be, Side s) { be.distributions().log_mean_exp_rows((out.*s).data(), (in.*s).data(), rows, k); });
    EXPECT_TRUE(all_close(gpu_host(out), cpu_host(out), kRowRel, kRowAbs)) << "k_count " << k;
  }
}

// The objectives' ops (train/objective.h): per-row weights (a device array) on the
// likelihood and KL backward ops, the KL's per-dimension gates, the KL of each dimension,
// free-bits gates, and the backward ops of the IWAE bound.
TEST_F(CudaOps, ObjectiveOpsWithRowWeightsAndGates) {
  const int rows = 37, latent = 19, dim = 300, k = 7;
  Pair c = both_random(rows, -2, 2, 40);  // per-row weights
  Pair stats = both(random_stats(rows, latent, 41));
  Pair gates = both_random(latent, 0, 1, 42);
  Pair dstats = both_random(stats.g.size(), -1, 1, 43);  // accumulated into
  on_both([&](Backend& be, Side s) {
    be.distributions().kl_backward((dstats.*s).data(), (stats.*s).data(), rows, latent, Weight::rows((c.*s).data()),
                                   (gates.*s).data());
  });
  EXPECT_TRUE(all_close(gpu_host(dstats), cpu_host(dstats), kElemRel, kElemAbs));
  Pair sums = both_zero(latent), gate = both_random(latent, -1, 1, 44);
  on_both(
      [&](Backend& be, Side s) { be.distributions().kl_dim_sums((sums.*s).data(), (stats.*s).data(), rows, latent); });
  EXPECT_TRUE(all_close(gpu_host(sums), cpu_host(sums), kRowRel, kRowAbs));
  on_both([&](Backend& be, Side s) {
    be.distributions().free_bits_gates((gate.*s).data(), (sums.*s).data(), latent, 1.0f / rows, 1.15f);
  });
  EXPECT_TRUE(bitwise_equal(gpu_host(gate), cpu_host(gate)));
  const std::vector<float> cpu_gates = cpu_host(gate);  // the floor sits near the mean KL: both gates occur
  EXPECT_GT(std::count(cpu_gates.begin(), cpu_gates.end(), 0.0f), 0);
  EXPECT_GT(std::count(cpu_gates.begin(), cpu_gates.end(), 1.0f), 0);

  Pair logits = both_random(size_t(rows) * dim, -8, 8, 45), x = both_random(size_t(rows) * dim, 0, 1, 46);
  Pair dlogits = both_zero(size_t(rows) * dim);
  on_both([&](Backend& be, Side s) {
    be.distributions().bernoulli_nll_backward((dlogits.*s).data(), (logits.*s).data(), (x.*s).data(), rows, dim,
                                              Weight::rows((c.*s).data()));
  });
  EXPECT_TRUE(all_close(gpu_host(dlogits), cpu_host(dlogits), kElemRel, kElemAbs));
  Pair out = both_random(size_t(rows) * 2 * dim, -1, 1, 47), dout = both_zero(size_t(rows) * 2 * dim);
  on_both([&](Backend& be, Side s) {
    be.distributions().gaussian_nll_backward((dout.*s).data(), (out.*s).data(), (x.*s).data(), rows, dim,
                                             Weight::rows((c.*s).data()));
  });
  EXPECT_TRUE(all_close(gpu_host(dout), cpu_host(dout), kElemRel, kElemAbs));

  Pair z = both_random(size_t(rows) * latent, -3, 3, 48), dz = both_random(size_t(rows) * latent, -1, 1, 49);
  on_both([&](Backend& be, Side s) {
    be.distributions().prior_minus_posterior_backward((dz.*s).data(), (dstats.*s).data(), (z.*s).data(), rows, latent,
                                                      Weight::rows((c.*s).data()));
  });
  EXPECT_TRUE(all_close(gpu_host(dz), cpu_host(dz), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(dstats), cpu_host(dstats), kElemRel, kElemAbs));

  Pair logw = both_random(size_t(rows) * k, -60, 5, 50), lme = both_zero(rows), dlogw = both_zero(size_t(rows) * k);
  on_both([&](Backend& be, Side s) {
    be.distributions().log_mean_exp_rows((lme.*s).data(), (logw.*s).data(), rows, k);
    be.distributions().log_mean_exp_rows_backward((dlogw.*s).data(), (logw.*s).data(), (lme.*s).data(), rows, k,
                                                  Weight::rows((c.*s).data()));
  });
  EXPECT_TRUE(all_close(gpu_host(dlogw), cpu_host(dlogw), kElemRel, kElemAbs));
}

TEST_F(CudaOps, BinarizeFlipsExactlyTheCpuPixels) {
  const int rows = 64, dim = 784;
  const NoiseKey key{42, kRngBinarize, (1ull << 33) + 7, 3};
  Pair x = both_random(size_t(rows) * dim, 0, 1, 26);
  on_both([&](Backend& be, Side s) { be.binarize((x.*s).data(), rows, dim, key); });
  const std::vector<float> got = gpu_host(x);
  EXPECT_TRUE(bitwise_equal(got, cpu_host(x)));
  size_t ones = 0;
  for (float v : got) ones += v == 1.0f;
  EXPECT_GT(ones, got.size() / 3);  // about half, since E[x] = 1/2: not all zeros
  EXPECT_LT(ones, got.size() * 2 / 3);
}

TEST_F(CudaOps, WholeBufferReductionsAreDeterministicAndMatch) {
  // 0, tiny, one partial block, and more elements than the fixed grid covers in one sweep.
  for (size_t n : {size_t(0), size_t(1), size_t(1000), size_t(3000001)}) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    Pair x = both_random(n, -1, 1, 27), out = both_zero(1);
    double abs_sum = 0;
    for (float v : random_vec(n, -1, 1, 27)) abs_sum += std::fabs(v);
    on_both([&](Backend& be, Side s) { be.sum((out.*s).data(), (x.*s).data(), n); });
    const std::vector<float> first = gpu_host(out);
    EXPECT_NEAR(first[0], cpu_host(out)[0], 1e-6 * abs_sum + 1e-6);
    gpu_->sum(out.g.data(), x.g.data(), n);
    EXPECT_TRUE(bitwise_equal(gpu_host(out), first));

    // The gradient norm's partials: one per block of 1024, the last one partial.
    const size_t blocks = std::max<size_t>(1, (n + 1023) / 1024);
    Pair partials = both_zero(blocks);
    on_both([&](Backend& be, Side s) { be.sum_squares_blocks((partials.*s).data(), (x.*s).data(), n, 1024); });
    EXPECT_TRUE(all_close(gpu_host(partials), cpu_host(partials), 1e-6, 1e-6));
    const std::vector<float> partials_first = gpu_host(partials);
    gpu_->sum_squares_blocks(partials.g.data(), x.g.data(), n, 1024);
    EXPECT_TRUE(bitwise_equal(gpu_host(partials), partials_first));
    on_both([&](Backend& be, Side s) { be.all_finite((out.*s).data(), (x.*s).data(), n); });
    EXPECT_EQ(gpu_host(out)[0], 1.0f);
  }
}

TEST_F(CudaOps, AllFiniteSeesNanAndInfAnywhere) {
  const size_t n = 2000003;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (size_t at : {size_t(0), n / 2, n - 1}) {
      std::vector<float> h = random_vec(n, -1, 1, 28);
      h[at] = bad;
      Pair x = both(h), out = both_zero(1);
      on_both([&](Backend& be, Side s) { be.all_finite((out.*s).data(), (x.*s).data(), n); });
      EXPECT_EQ(gpu_host(out)[0], 0.0f) << "value " << bad << " at " << at;
      EXPECT_EQ(cpu_host(out)[0], 0.0f);
    }
  }
}

// The update gate from device scalars: clipping, skipping over the threshold, skipping a
// non-finite norm or health, and the running counts, alike on both backends.
TEST_F(CudaOps, UpdateGateFromDeviceSumOfSquares) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float max_norm : {0.0f, 5.0f, 20.0f}) {
    for (float skip_norm : {0.0f, 8.0f}) {
      for (auto [sumsq_value, health_value] : {std::pair{100.0f, 0.0f}, std::pair{nan, 0.0f}, std::pair{1.0f, nan}}) {
        Pair sumsq = both({sumsq_value}), health = both({health_value}), gate = both({1.0f, 0.0f, 2.0f, 3.0f});
        UpdateRule rule;
        rule.clip_norm = max_norm;
        rule.skip_norm = skip_norm;
        on_both([&](Backend& be, Side s) {
          be.update_gate((gate.*s).data(), (sumsq.*s).data(), (health.*s).data(), rule);
        });
        EXPECT_TRUE(all_close(gpu_host(gate), cpu_host(gate), kElemRel, 0))
            << "max_norm " << max_norm << " skip_norm " << skip_norm << " sumsq " << sumsq_value;
      }
    }
  }
}

TEST_F(CudaOps, AdamAdamWAndAdamaxStepsMatch) {
  const size_t n = 10007;
  for (int kind = 0; kind < 3; ++kind) {  // adam, adamw, adamax
    for (int gating = 0; gating < 3; ++gating) {  // none, a scale of 0.5, a skipped step
      SCOPED_TRACE(::testing::Message() << "optimizer " << kind << " gating " << gating);
      Pair p = both_random(n, -1, 1, 29), m = both_zero(n), v = both_zero(n),
           gate = both({0.5f, gating == 2 ? 1.0f : 0.0f, 0.0f, 0.0f});
      const std::vector<float> p0 = cpu_host(p);
      for (int t = 1; t <= 3; ++t) {
        Pair g = both_random(n, -1, 1, 30 + t);
        const AdamHyper h = make_adam_hyper(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, kind == 1, t, kind == 2);
        on_both([&](Backend& be, Side s) {
          be.adam_step((p.*s).data(), (g.*s).data(), (m.*s).data(), (v.*s).data(), n, h,
                       gating > 0 ? (gate.*s).data() : nullptr);
        });
      }
      EXPECT_TRUE(all_close(gpu_host(p), cpu_host(p), kElemRel, kElemAbs)) << "params";
      EXPECT_TRUE(all_close(gpu_host(m), cpu_host(m), kElemRel, kElemAbs)) << "m";
      EXPECT_TRUE(all_close(gpu_host(v), cpu_host(v), kElemRel, 1e-9)) << "v";
      if (gating == 2) EXPECT_EQ(gpu_host(p), p0) << "a skipped step changed the parameters";
    }
  }
}

TEST_F(CudaOps, WeightAverageAndGatedSumsMatch) {
  const size_t n = 4099;
  for (float skip : {0.0f, 1.0f}) {
    Pair ema = both_random(n, -1, 1, 40), p = both_random(n, -1, 1, 41), acc = both_random(n, -1, 1, 42),
         x = both_random(n, -1, 1, 43), gate = both({1.0f, skip, 0.0f, 0.0f});
    on_both([&](Backend& be, Side s) {
      be.ema_update((ema.*s).data(), (p.*s).data(), n, 0.999f, (gate.*s).data());
      be.add_unless_skipped((acc.*s).data(), (x.*s).data(), n, (gate.*s).data());
    });
    EXPECT_TRUE(all_close(gpu_host(ema), cpu_host(ema), kElemRel, kElemAbs)) << "skip " << skip;
    EXPECT_TRUE(all_close(gpu_host(acc), cpu_host(acc), kElemRel, kElemAbs)) << "skip " << skip;
  }
}

}  // namespace
}  // namespace cuda_test
}  // namespace elbo
