// Accuracy of the library-free exp, log1p, log, cos(2 pi u), softplus, sigmoid and tanh that both backends
// share (kernels/math.h), against double-precision references over dense sweeps.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "elbo/kernels/math.h"

namespace elbo {
namespace {

constexpr double kUlp = 5.960464477539063e-08;  // 2^-24: half an ulp of 1.0f, relative

// Largest error of f against ref, relative to |ref| (absolute where |ref| < floor).
template <typename F, typename R>
double worst_relative_error(double lo, double hi, int points, F f, R ref, double floor = 1e-30,
                            double* at = nullptr) {
  double worst = 0;
  for (int i = 0; i <= points; ++i) {
    const float x = float(lo + (hi - lo) * i / points);
    const double want = ref(double(x));
    const double err = std::fabs(double(f(x)) - want) / std::max(std::fabs(want), floor);
    if (err > worst) {
      worst = err;
      if (at) *at = x;
    }
  }
  return worst;
}

TEST(KernelMath, ExpNonpositiveIsWithinTwoUlpDownToFltMin) {
  double at = 0;
  const double err = worst_relative_error(
      -87.0, 0.0, 2000000, [](float x) { return exp_nonpositive(x); }, [](double x) { return std::exp(x); }, 1e-30,
      &at);
  EXPECT_LT(err, 4 * kUlp) << "worst at x = " << at;
  EXPECT_EQ(exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(exp_nonpositive(-87.5f), 0.0f);  // below FLT_MIN: flushed to zero
  EXPECT_EQ(exp_nonpositive(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isnan(exp_nonpositive(std::nanf(""))));
}

TEST(KernelMath, Log1pUnitIsWithinTwoUlpOnTheUnitInterval) {
  double at = 0;
  const double err = worst_relative_error(
      0.0, 1.0, 2000000, [](float t) { return log1p_unit(t); }, [](double t) { return std::log1p(t); }, 1e-38, &at);
  EXPECT_LT(err, 4 * kUlp) << "worst at t = " << at;
  // Tiny arguments keep full relative precision (no 1 + t cancellation).
  for (float t : {1e-30f, 1e-12f, 3e-8f, 1e-4f})
    EXPECT_NEAR(log1p_unit(t) / std::log1p(double(t)), 1.0, 4 * kUlp) << "t = " << t;
  EXPECT_EQ(log1p_unit(0.0f), 0.0f);
}

TEST(KernelMath, SoftplusAndSigmoidAreAccurateEverywhereAndNeverOverflow) {
  auto softplus_ref = [](double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); };
  auto sigmoid_ref = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  double at = 0;
  EXPECT_LT(worst_relative_error(
                -80.0, 80.0, 1000000, [](float x) { return stable_softplus(x); }, softplus_ref, 1e-30, &at),
            6 * kUlp)
      << "softplus worst at x = " << at;
  EXPECT_LT(worst_relative_error(
                -80.0, 80.0, 1000000, [](float x) { return stable_sigmoid(x); }, sigmoid_ref, 1e-30, &at),
            6 * kUlp)
      << "sigmoid worst at x = " << at;
  const float big = 1e30f;
  EXPECT_EQ(stable_softplus(big), big);
  EXPECT_EQ(stable_softplus(-big), 0.0f);
  EXPECT_EQ(stable_sigmoid(big), 1.0f);
  EXPECT_EQ(stable_sigmoid(-big), 0.0f);
  EXPECT_TRUE(std::isnan(stable_sigmoid(std::nanf(""))));
  EXPECT_TRUE(std::isnan(bernoulli_nll(std::nanf(""), 1.0f)));
}

TEST(KernelMath, TanhWithoutLibmIsWithinTwoUlpEverywhere) {
  double at = 0;
  const auto f = [](float x) { return tanh_without_libm(x); };
  const auto ref = [](double x) { return std::tanh(x); };
  EXPECT_LT(worst_relative_error(-20.0, 20.0, 2000000, f, ref, 1e-38, &at), 4 * kUlp) << "worst at x = " << at;
  // Densely around the switch between the polynomial and the exponential form.
  EXPECT_LT(worst_relative_error(0.6, 0.65, 200000, f, ref, 1e-38, &at), 4 * kUlp) << "worst at x = " << at;
  EXPECT_LT(worst_relative_error(-0.65, -0.6, 200000, f, ref, 1e-38, &at), 4 * kUlp) << "worst at x = " << at;
  // Tiny arguments: tanh(x) = x to float precision, denormals included.
  for (float x : {1e-30f, -1e-12f, 3e-8f, 1e-40f}) EXPECT_EQ(tanh_without_libm(x), x) << "x = " << x;
  EXPECT_EQ(tanh_without_libm(0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(tanh_without_libm(-0.0f)));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(tanh_without_libm(inf), 1.0f);
  EXPECT_EQ(tanh_without_libm(-inf), -1.0f);
  EXPECT_EQ(tanh_without_libm(45.0f), 1.0f);
  EXPECT_EQ(tanh_without_libm(-1e30f), -1.0f);
  EXPECT_TRUE(std::isnan(tanh_without_libm(std::nanf(""))));
  // Odd to the bit, so that a model's symmetry survives.
  for (float x : {0.1f, 0.624f, 0.625f, 1.5f, 9.0f}) EXPECT_EQ(tanh_without_libm(-x), -tanh_without_libm(x));
}

TEST(KernelMath, LogPositiveNormalIsWithinTwoUlpOverBoxMullersUniforms) {
  // Box-Muller's u1 = (k + 0.5) / 2^24: every binade from 2^-25 to 1, densely, and
  // sweeps near 1 (where log x ~ x - 1 must keep its relative precision).
  double at = 0;
  const auto f = [](float x) { return log_positive_normal(x); };
  const auto ref = [](double x) { return std::log(x); };
  for (double lo = 1.0 / (1 << 25); lo < 1.0; lo *= 2)
    EXPECT_LT(worst_relative_error(lo, 2 * lo, 100000, f, ref, 1e-38, &at), 4 * kUlp) << "worst at x = " << at;
  EXPECT_LT(worst_relative_error(0.999, 1.0 - 1e-7, 200000, f, ref, 1e-38, &at), 4 * kUlp) << "worst at x = " << at;
  EXPECT_LT(worst_relative_error(0.70, 0.72, 200000, f, ref, 1e-38, &at), 4 * kUlp) << "worst at x = " << at;
  EXPECT_EQ(log_positive_normal(1.0f), 0.0f);
  // Beyond the unit interval too (any positive normal float).
  EXPECT_LT(worst_relative_error(1.0, 1e30, 1000000, f, ref, 1e-38, &at), 4 * kUlp) << "worst at x = " << at;
  EXPECT_NEAR(log_positive_normal(1.17549435e-38f), std::log(1.17549435e-38), 4 * kUlp * 87.4);
}

TEST(KernelMath, CosTwoPiIsAccurateOnTheUnitInterval) {
  // Absolute error against cos(2 pi u) in double (the normal's tails come from log, not
  // from here), over the whole interval and densely around each switch of the reduction;
  // relative error near the zeros at 1/4 and 3/4, where -sin keeps full precision.
  double worst = 0, at = 0;
  auto sweep = [&](double lo, double hi, int points) {
    for (int i = 0; i <= points; ++i) {
      const float u = float(lo + (hi - lo) * i / points);
      const double err = std::fabs(double(cos_two_pi(u)) - std::cos(2 * M_PI * double(u)));
      if (err > worst) worst = err, at = u;
    }
  };
  sweep(0.0, 1.0, 2000000);
  for (double edge : {0.125, 0.375, 0.5, 0.625, 0.875}) sweep(edge - 1e-4, edge + 1e-4, 100000);
  EXPECT_LT(worst, 3 * kUlp) << "worst at u = " << at;
  for (float u : {0.2499f, 0.25f, 0.2500001f, 0.75f, 0.7500001f}) {
    const double want = std::cos(2 * M_PI * double(u));
    EXPECT_NEAR(cos_two_pi(u), want, 4 * kUlp * std::fabs(want) + 1e-12) << "u = " << u;
  }
  EXPECT_EQ(cos_two_pi(0.0f), 1.0f);
  EXPECT_EQ(cos_two_pi(0.5f), -1.0f);
  EXPECT_EQ(cos_two_pi(1.0f), 1.0f);
  // Even about 1/2, to the bit, as cos(2 pi u) = cos(2 pi (1 - u)) (1 - u exact for u >= 1/2).
  for (float u : {0.6f, 0.7f, 0.95f}) EXPECT_EQ(cos_two_pi(u), cos_two_pi(1.0f - u)) << "u = " << u;
}

TEST(KernelMath, BernoulliNllMatchesTheDoubleFormula) {
  for (float x : {0.0f, 0.25f, 1.0f})
    for (float l = -30.0f; l <= 30.0f; l += 0.37f) {
      const double want = (l > 0 ? l + std::log1p(std::exp(-double(l))) : std::log1p(std::exp(double(l)))) - double(l) * x;
      EXPECT_NEAR(bernoulli_nll(l, x), want, 1e-6 + 4 * kUlp * std::fabs(want)) << "logit " << l << " x " << x;
      EXPECT_NEAR(bernoulli_nll_grad(l, x), 1.0 / (1.0 + std::exp(-double(l))) - x, 1e-6) << "logit " << l;
    }
}

}  // namespace
}  // namespace elbo
