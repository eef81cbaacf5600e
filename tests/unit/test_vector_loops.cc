// The CPU backend's hot loops (src/backend/cpu/vector_loops.cc) run as AVX-512 or AVX2
// clones on CPUs that have them, while this test file is compiled for baseline x86-64.
// Each element they write must be bitwise the scalar arithmetic of kernels/math.h as
// compiled here: a clone that fused a multiply-add or reordered an operation would
// change a trained model's bits with the machine it ran on. Sizes leave vector
// remainders, inputs include the special values, and 1 and 3 threads split the work.
// The clone tested is the one this CPU gets (AVX-512 on the project's machines).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "elbo/backend.h"
#include "elbo/distribution_kernels.h"
#include "elbo/kernels/math.h"

namespace elbo {
namespace {

// Normal values of a few scales, with the special and boundary values spliced in.
std::vector<float> inputs(size_t n, uint32_t seed, float scale) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = scale * d(g);
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f, -0.0f, 0.625f, -0.625f, 0.6249999f, 44.0f, -90.0f, 1e-30f, inf, -inf, 1e30f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0] && 3 * i < n; ++i) v[3 * i] = specials[i];
  return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

const Activation kActivations[] = {Activation::kIdentity,  Activation::kReLU, Activation::kTanh,
                                   Activation::kSigmoid,   Activation::kLeakyReLU, Activation::kELU,
                                   Activation::kSwish,     Activation::kSoftplus,  Activation::kGELU};

TEST(VectorLoops, ActivationsForwardAndBackwardAreTheScalarMathBitForBit) {
  // 1037 = 64 * 16 + 13: every vector width leaves a tail; 67 rows make 69 479 elements,
  // enough for the pool to split them over threads.
  const int rows = 67, cols = 1037;
  const size_t n = size_t(rows) * cols;
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    for (Activation act : kActivations) {
      const std::vector<float> x = inputs(n, 1, 3.0f), bias = inputs(size_t(cols), 2, 1.0f), dy = inputs(n, 3, 1.0f);
      std::vector<float> y = x;
      be->bias_act_forward(y.data(), bias.data(), rows, cols, act);
      std::vector<float> from_input(n), from_output(n);
      be->act_backward_from_input(from_input.data(), dy.data(), x.data(), n, act);
      if (!act_grad_needs_input(act)) be->act_backward(from_output.data(), dy.data(), y.data(), n, act);
      for (size_t i = 0; i < n; ++i) {
        const float want_y = act_forward(act, x[i] + bias[i % cols]);
        ASSERT_TRUE(same_bits(y[i], want_y)) << "act " << int(act) << " element " << i << ": " << y[i] << " against "
                                             << want_y << " (x " << x[i] << ", threads " << threads << ")";
        const float want_in = dy[i] * act_grad_from_input(act, x[i]);
        ASSERT_TRUE(same_bits(from_input[i], want_in)) << "act " << int(act) << " element " << i << ", x " << x[i];
        if (act_grad_needs_input(act)) continue;
        const float want_out = dy[i] * act_grad_from_output(act, y[i]);
        ASSERT_TRUE(same_bits(from_output[i], want_out)) << "act " << int(act) << " element " << i << ", y " << y[i];
      }
    }
  }
}

TEST(VectorLoops, BernoulliNllGradientIsTheScalarMathAndItsSumIsAccurate) {
  const int rows = 97, dim = 787;  // 76 339 elements: split over threads
  const size_t n = size_t(rows) * dim;
  const std::vector<float> logits = inputs(n, 4, 6.0f);
  std::vector<float> x(n);
  std::mt19937 g(5);
  for (float& v : x) v = float(g() % 3) * 0.5f;  // 0, 0.5 and 1
  std::vector<float> per_row(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) per_row[size_t(r)] = 0.25f * float(r + 1);
  std::vector<float> nll_one_thread;
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    DistributionKernels& dk = be->distributions();
    std::vector<float> d(n), d_rows(n), nll(static_cast<size_t>(rows));
    dk.bernoulli_nll_backward(d.data(), logits.data(), x.data(), rows, dim, Weight(0.5f));
    dk.bernoulli_nll_backward(d_rows.data(), logits.data(), x.data(), rows, dim, Weight::rows(per_row.data()));
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(same_bits(d[i], 0.5f * bernoulli_nll_grad(logits[i], x[i]))) << "element " << i;
      ASSERT_TRUE(same_bits(d_rows[i], per_row[i / dim] * bernoulli_nll_grad(logits[i], x[i]))) << "element " << i;
    }
    // Logits of +-inf make an infinite NLL: the finite rows are checked against double.
    dk.bernoulli_nll_forward(nll.data(), logits.data(), x.data(), rows, dim);
    for (int r = 0; r < rows; ++r) {
      double want = 0;
      for (int j = 0; j < dim; ++j) want += double(bernoulli_nll(logits[size_t(r) * dim + j], x[size_t(r) * dim + j]));
      if (std::isfinite(want)) EXPECT_NEAR(nll[size_t(r)], want, 1e-6 * std::fabs(want)) << "row " << r;
    }
    if (threads == 1) nll_one_thread = nll;
    else
      for (int r = 0; r < rows; ++r) EXPECT_TRUE(same_bits(nll[size_t(r)], nll_one_thread[size_t(r)])) << "row " << r;
  }
}

TEST(VectorLoops, VarianceBoundIsTheScalarMathBitForBit) {
  const int rows = 23, latent = 53;
  const size_t n = size_t(rows) * 2 * latent;
  const std::vector<float> stats = inputs(n, 10, 8.0f), dout = inputs(n, 11, 1.0f);
  auto be = make_cpu_backend(2);
  DistributionKernels& dk = be->distributions();
  for (float clamp : {0.0f, 10.0f})
    for (float floor : {0.0f, 0.01f}) {
      std::vector<float> out(n), dstats(n, 0.5f);
      dk.bound_logvar_forward(out.data(), stats.data(), rows, latent, clamp, floor);
      dk.bound_logvar_backward(dstats.data(), dout.data(), stats.data(), rows, latent, clamp, floor);
      for (size_t i = 0; i < n; ++i) {
        const bool is_logvar = (i / latent) % 2 == 1;
        const float want = is_logvar ? bounded_logvar(stats[i], clamp, floor) : stats[i];
        const float want_grad =
            0.5f + (is_logvar ? dout[i] * bounded_logvar_grad(stats[i], clamp, floor) : dout[i]);
        ASSERT_TRUE(same_bits(out[i], want)) << "element " << i << ", clamp " << clamp << ", floor " << floor;
        ASSERT_TRUE(same_bits(dstats[i], want_grad)) << "element " << i << ", clamp " << clamp << ", floor " << floor;
      }
    }
}

TEST(VectorLoops, AdamIsTheScalarUpdateBitForBit) {
  const size_t n = 70001;  // above one worker's minimum part, with a tail
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    for (bool adamw : {false, true})
      for (bool adamax : {false, true}) {
        std::vector<float> p = inputs(n, 6, 1.0f), m = inputs(n, 7, 0.1f), v = inputs(n, 8, 0.01f);
        for (size_t i = 0; i < n; ++i) v[i] = std::isfinite(v[i]) ? std::fabs(v[i]) : 1.0f;  // v >= 0
        const std::vector<float> grads = inputs(n, 9, 2.0f);
        const AdamHyper h = make_adam_hyper(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, adamw, 7, adamax);
        const std::vector<float> p0 = p, m0 = m, v0 = v;
        be->adam_step(p.data(), grads.data(), m.data(), v.data(), n, h, nullptr);
        for (size_t i = 0; i < n; ++i) {
          const AdamState want = adam_update_value(AdamState{p0[i], m0[i], v0[i]}, grads[i], h, 1.0f);
          ASSERT_TRUE(same_bits(p[i], want.p) && same_bits(m[i], want.m) && same_bits(v[i], want.v))
              << "element " << i << (adamw ? " adamw" : " adam") << (adamax ? " adamax" : "") << ", threads "
              << threads;
        }
      }
  }
}

}  // namespace
}  // namespace elbo
