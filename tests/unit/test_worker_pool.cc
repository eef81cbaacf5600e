// The CPU backend's worker pool: every index exactly once, and backend results that
// do not depend on the number of threads.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <vector>

#include "../../src/backend/cpu/worker_pool.h"
#include "elbo/backend.h"
#include "elbo/kernels/philox.h"

namespace elbo {
namespace {

TEST(WorkerPool, EveryIndexExactlyOnceForAnySplit) {
  for (int threads : {1, 2, 3, 5}) {
    WorkerPool pool(threads);
    for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(1000), size_t(100003)}) {
      for (size_t min_part : {size_t(1), size_t(64), size_t(1) << 20}) {
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int> calls{0};
        pool.parallel_for(n, min_part, [&](size_t b, size_t e) {
          ++calls;
          for (size_t i = b; i < e; ++i) ++hits[i];
        });
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << "threads " << threads << " n " << n << " i " << i;
        const size_t most_parts = std::max<size_t>(1, n / min_part);
        if (n) EXPECT_LE(size_t(calls), std::min<size_t>(size_t(threads), most_parts)) << "n " << n;
      }
    }
  }
}

TEST(WorkerPool, ManyShortLoopsInARow) {
  WorkerPool pool(3);
  std::vector<int> x(3000, 0);
  for (int round = 0; round < 2000; ++round)
    pool.parallel_for(x.size(), 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) ++x[i];
    });
  for (int v : x) ASSERT_EQ(v, 2000);
}

std::vector<float> random_vector(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

// The ops the pool splits give bitwise the same results on 1 and on 3 threads.
TEST(WorkerPool, CpuBackendResultsIndependentOfThreads) {
  const int rows = 96, dim = 784;
  const size_t n = size_t(rows) * dim, params = 300007;
  auto run = [&](int threads) {
    auto be = make_cpu_backend(threads);
    std::vector<float> out;
    std::vector<float> logits = random_vector(n, 1, -8, 8), x = random_vector(n, 2, 0, 1), nll(rows, 0.0f), dl(n);
    be->binarize(x.data(), rows, dim, NoiseKey{9, kRngBinarize, 1000, 0});
    be->distributions().bernoulli_nll_forward(nll.data(), logits.data(), x.data(), rows, dim);
    be->distributions().bernoulli_nll_backward(dl.data(), logits.data(), x.data(), rows, dim, 0.5f);
    std::vector<float> y = random_vector(n, 3, -1, 1), bias = random_vector(dim, 4, -1, 1), dx(n);
    be->bias_act_forward(y.data(), bias.data(), rows, dim, Activation::kReLU);
    be->act_backward(dx.data(), dl.data(), y.data(), n, Activation::kReLU);
    be->axpy(dx.data(), dl.data(), n, 0.25f);
    be->scale(dx.data(), n, 3.0f);
    std::vector<float> p = random_vector(params, 5, -1, 1), g = random_vector(params, 6, -1, 1), m(params, 0.0f),
        v(params, 0.0f);
    for (int t = 1; t <= 3; ++t)
      be->adam_step(p.data(), g.data(), m.data(), v.data(), params,
                    make_adam_hyper(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t == 2, t), nullptr);
    for (auto* part : {&x, &nll, &dl, &y, &dx, &p, &m, &v}) out.insert(out.end(), part->begin(), part->end());
    return out;
  };
  const std::vector<float> one = run(1), three = run(3);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], three[i]) << "element " << i;
}

}  // namespace
}  // namespace elbo
