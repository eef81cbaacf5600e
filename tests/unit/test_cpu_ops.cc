// CPU backend ops against direct reference formulas (the CUDA tests then compare
// the CUDA backend against this one, op by op).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "elbo/backend.h"
#include "elbo/kernels/philox.h"
#include "elbo/optim/adam.h"
#include "elbo/optim/update_guard.h"

namespace elbo {
namespace {

std::vector<float> randv(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

TEST(CpuOps, GemmAllTransposes) {
  auto be = make_cpu_backend();
  const int m = 5, n = 4, k = 3;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<float> a = randv(m * k, 1), b = randv(k * n, 2), c = randv(m * n, 3), ref = c;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double s = 0;
          for (int p = 0; p < k; ++p) s += double(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
          ref[i * n + j] = float(0.5 * s + 2.0 * ref[i * n + j]);
        }
      be->gemm(ta, tb, m, n, k, 0.5f, a.data(), b.data(), 2.0f, c.data());
      for (int i = 0; i < m * n; ++i) EXPECT_NEAR(c[i], ref[i], 1e-5) << "ta=" << ta << " tb=" << tb;
    }
}

TEST(CpuOps, PhiloxIsDeterministicAndStandardNormal) {
  EXPECT_EQ(philox_u64(1, 2, 3, 4), philox_u64(1, 2, 3, 4));
  EXPECT_NE(philox_u64(1, 2, 3, 4), philox_u64(1, 2, 3, 5));
  EXPECT_NE(philox_u64(1, 2, 3, 4), philox_u64(2, 2, 3, 4));
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double z = philox_normal(9, kRngReparam, uint64_t(i), 0);
    s += z;
    s2 += z * z;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.01);
}

TEST(CpuOps, ReparameterizeDrawsPhiloxNormalForEveryElementOffset) {
  // The CPU backend draws a row's Philox words at once and takes two per normal; each
  // element must still be philox_normal of its (serial, element): even and odd element
  // offsets (a row starting in the middle of a draw), a serial past 2^32.
  auto be = make_cpu_backend();
  const int rows = 3, latent = 7;
  const std::vector<float> stats = randv(rows * 2 * latent, 5);
  for (uint32_t offset : {0u, 1u, 6u, 13u}) {
    const NoiseKey key{77, kRngReparam, (1ull << 33) + 9, offset};
    std::vector<float> z(rows * latent), eps(rows * latent);
    be->distributions().reparameterize(z.data(), eps.data(), stats.data(), rows, latent, key);
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < latent; ++j) {
        const size_t i = size_t(r) * latent + j;
        const float want = philox_normal(77, kRngReparam, key.row_serial0 + r, offset + uint32_t(j));
        ASSERT_EQ(eps[i], want) << "offset " << offset << " row " << r << " element " << j;
        const float* mu = stats.data() + size_t(r) * 2 * latent;
        ASSERT_EQ(z[i], reparameterize(mu[j], mu[latent + j], want));
      }
  }
}

TEST(CpuOps, NoiseDependsOnSerialNotOnBatchSplit) {
  // Rows drawn in one call equal rows drawn in two calls with shifted serials:
  // the reason 1 rank x 128 and 2 ranks x 64 see the same noise.
  auto be = make_cpu_backend();
  const int rows = 6, latent = 3;
  std::vector<float> stats = randv(rows * 2 * latent, 4), z(rows * latent), eps(rows * latent), z2 = z, eps2 = eps;
  be->distributions().reparameterize(z.data(), eps.data(), stats.data(), rows, latent,
                                     NoiseKey{1, kRngReparam, 1000, 0});
  be->distributions().reparameterize(z2.data(), eps2.data(), stats.data(), 2, latent,
                                     NoiseKey{1, kRngReparam, 1000, 0});
  be->distributions().reparameterize(z2.data() + 2 * latent, eps2.data() + 2 * latent, stats.data() + 2 * 2 * latent, 4,
                                     latent, NoiseKey{1, kRngReparam, 1002, 0});
  EXPECT_EQ(z, z2);
}

TEST(CpuOps, LogMeanExpIsStableForLargeMagnitudes) {
  auto be = make_cpu_backend();
  std::vector<float> in = {-1000.0f, -1000.0f, -1001.0f, 3.0f, 3.0f, 3.0f}, out(2);
  be->distributions().log_mean_exp_rows(out.data(), in.data(), 2, 3);
  EXPECT_NEAR(out[0], -1000.0 + std::log((2.0 + std::exp(-1.0)) / 3.0), 1e-3);
  EXPECT_NEAR(out[1], 3.0, 1e-6);
}

TEST(CpuOps, RepeatRowsAndBiasGrad) {
  auto be = make_cpu_backend();
  std::vector<float> src = {1, 2, 3, 4}, dst(12);
  be->repeat_rows(dst.data(), src.data(), 2, 2, 3);
  EXPECT_EQ(dst, (std::vector<float>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  std::vector<float> db = {1, 1};
  be->bias_grad(db.data(), dst.data(), 6, 2);
  EXPECT_FLOAT_EQ(db[0], 1 + 12);
  EXPECT_FLOAT_EQ(db[1], 1 + 18);
}

TEST(CpuOps, BernoulliNllIsStableAtExtremeLogits) {
  auto be = make_cpu_backend();
  std::vector<float> logits = {80.0f, -80.0f, 0.0f}, x = {1.0f, 0.0f, 1.0f}, nll(3);
  for (int i = 0; i < 3; ++i) be->distributions().bernoulli_nll_forward(&nll[i], &logits[i], &x[i], 1, 1);
  EXPECT_NEAR(nll[0], 0.0, 1e-6);
  EXPECT_NEAR(nll[1], 0.0, 1e-6);
  EXPECT_NEAR(nll[2], std::log(2.0), 1e-6);
  std::vector<float> big = {200.0f}, zero = {0.0f}, out(1);
  be->distributions().bernoulli_nll_forward(out.data(), big.data(), zero.data(), 1, 1);
  EXPECT_NEAR(out[0], 200.0, 1e-3);
}

TEST(CpuOps, BinarizeMatchesProbabilities) {
  auto be = make_cpu_backend();
  const int n = 100000;
  std::vector<float> x(n, 0.3f);
  be->binarize(x.data(), 1, n, NoiseKey{3, kRngBinarize, 0, 0});
  double mean = 0;
  for (float v : x) {
    ASSERT_TRUE(v == 0.0f || v == 1.0f);
    mean += v;
  }
  EXPECT_NEAR(mean / n, 0.3, 0.01);
}

// The vectorised row draw gives exactly the per-element Philox uniforms, at any
// element offset (a row that starts inside a draw) and any length.
TEST(CpuOps, BinarizeUsesExactlyThePerElementUniforms) {
  auto be = make_cpu_backend();
  for (uint32_t offset : {0u, 1u, 3u, 6u}) {
    for (int dim : {1, 5, 31, 33, 784}) {
      const int rows = 3;
      std::vector<float> p(size_t(rows) * dim), x;
      std::mt19937 g(offset * 1000 + dim);
      std::uniform_real_distribution<float> u(0.0f, 1.0f);
      for (float& v : p) v = u(g);
      x = p;
      const NoiseKey key{0x1234567890abcdefULL, kRngBinarize, 77, offset};
      be->binarize(x.data(), rows, dim, key);
      for (int r = 0; r < rows; ++r)
        for (int j = 0; j < dim; ++j) {
          const float draw = philox_uniform(key.seed, key.stream, key.row_serial0 + r, offset + j);
          ASSERT_EQ(x[size_t(r) * dim + j], draw < p[size_t(r) * dim + j] ? 1.0f : 0.0f)
              << "offset " << offset << " dim " << dim << " row " << r << " element " << j;
        }
    }
  }
}

// Adam against the textbook update computed in double, with L2 decay and clipping.
// The gradient norm's partials (optim/update_guard.h): each block's sum of squares, the
// last block short; the partials of a range that starts on a block boundary (a shard) are
// those of the whole buffer's blocks there, bit for bit.
TEST(CpuOps, SumSquaresBlocksComposeOverShards) {
  auto be = make_cpu_backend(2);
  const size_t n = 5000, block = 1024, blocks = 5;
  const std::vector<float> x = randv(n, 77);
  std::vector<float> whole(blocks, -1.0f);
  be->sum_squares_blocks(whole.data(), x.data(), n, block);
  for (size_t b = 0; b < blocks; ++b) {
    double ref = 0;
    for (size_t i = b * block; i < std::min(n, (b + 1) * block); ++i) ref += double(x[i]) * x[i];
    EXPECT_NEAR(whole[b], ref, 1e-5 * ref) << "block " << b;
  }
  std::vector<float> tail(3, -1.0f);
  be->sum_squares_blocks(tail.data(), x.data() + 2 * block, n - 2 * block, block);
  for (size_t b = 0; b < 3; ++b) EXPECT_EQ(tail[b], whole[2 + b]) << "block " << 2 + b;
}

TEST(CpuOps, AdamMatchesReference) {
  auto be = make_cpu_backend();
  TrainConfig tc;
  tc.lr = 0.01f;
  tc.weight_decay = 0.1f;
  tc.grad_clip = 0.5f;
  for (const char* opt : {"adam", "adamw"}) {
    tc.optimizer = opt;
    const size_t n = 7;
    std::vector<float> p = randv(n, 5);
    std::vector<double> rp(p.begin(), p.end()), m(n, 0), v(n, 0);
    Adam adam(*be, n, tc);
    UpdateGuard guard(*be, update_rule_of(tc), n);
    for (int t = 1; t <= 3; ++t) {
      std::vector<float> g = randv(n, 10 + t);
      double norm = 0;
      for (float gi : g) norm += double(gi) * gi;
      norm = std::sqrt(norm);
      const double scale = norm > tc.grad_clip ? tc.grad_clip / (norm + 1e-6) : 1.0;
      for (size_t i = 0; i < n; ++i) {
        double gi = g[i] * scale;
        if (tc.optimizer == "adam") gi += tc.weight_decay * rp[i];
        m[i] = 0.9 * m[i] + 0.1 * gi;
        v[i] = 0.999 * v[i] + 0.001 * gi * gi;
        double upd = (m[i] / (1 - std::pow(0.9, t))) / (std::sqrt(v[i] / (1 - std::pow(0.999, t))) + 1e-8);
        if (tc.optimizer == "adamw") upd += tc.weight_decay * rp[i];
        rp[i] -= tc.lr * upd;
      }
      guard.decide(g.data(), nullptr, true);
      adam.step(p.data(), g.data(), nullptr, guard.gate());
    }
    for (size_t i = 0; i < n; ++i) EXPECT_NEAR(p[i], rp[i], 2e-5) << opt << " index " << i;
  }
}

}  // namespace
}  // namespace elbo

namespace elbo {
namespace {

// Linear::backward calls act_backward(dy, dy, y): in place. The loop must not declare
// dx and dy __restrict then (undefined behaviour that a compiler may turn into wrong
// results); in place and out of place give the same bits, on 1 and on 3 threads, at
// sizes that leave vector remainders.
TEST(CpuOps, ActBackwardInPlaceEqualsOutOfPlace) {
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    for (Activation act : {Activation::kReLU, Activation::kTanh, Activation::kSigmoid, Activation::kLeakyReLU,
                           Activation::kELU, Activation::kIdentity}) {
      for (size_t n : {size_t(1), size_t(7), size_t(4099), size_t(300001)}) {
        const std::vector<float> y = randv(n, 11), dy = randv(n, 12);
        std::vector<float> out(n, -1.0f), in_place = dy;
        be->act_backward(out.data(), dy.data(), y.data(), n, act);
        be->act_backward(in_place.data(), in_place.data(), y.data(), n, act);
        for (size_t i = 0; i < n; ++i) {
          const float want = dy[i] * act_grad_from_output(act, y[i]);
          ASSERT_NEAR(out[i], want, 1e-6f * std::fabs(want)) << "element " << i << " of " << n;
          ASSERT_EQ(in_place[i], out[i]) << "element " << i << " of " << n << ", act " << int(act) << ", threads "
                                         << threads;
        }
      }
    }
  }
}

}  // namespace
}  // namespace elbo
