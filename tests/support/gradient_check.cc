#include "support/gradient_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace elbo {
namespace {

constexpr float kStep = 1e-2f;
constexpr float kAtol = 2e-3f;
constexpr float kRtol = 2e-2f;

}  // namespace

std::vector<float> random_vector(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

void expect_gradient(std::vector<float>& values, const std::vector<float>& analytic,
                     const std::function<double()>& loss, const char* what) {
  ASSERT_EQ(values.size(), analytic.size());
  int bad = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const float saved = values[i];
    values[i] = saved + kStep;
    const double up = loss();
    values[i] = saved - kStep;
    const double down = loss();
    values[i] = saved;
    const double numeric = (up - down) / (2.0 * kStep);
    const double tol = kAtol + kRtol * std::max(std::fabs(numeric), std::fabs(double(analytic[i])));
    if (std::fabs(numeric - analytic[i]) > tol && ++bad <= 5)
      ADD_FAILURE() << what << ": index " << i << " analytic " << analytic[i] << " numeric " << numeric;
  }
  EXPECT_EQ(bad, 0) << what;
}

double sum_of(const float* x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  return s;
}

}  // namespace elbo
