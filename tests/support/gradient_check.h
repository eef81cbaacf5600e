// Finite-difference gradient checks (Caffe's GradientChecker idea), shared by the
// tests of every op and layer with a backward: central differences in float32 on
// small sizes, tolerance |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace elbo {

// n uniform values in [lo, hi), the same for the same seed.
std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// Checks d loss / d values[i] for every i against central differences (a gtest failure
// naming `what` and the first bad indices). loss() reads values.
void expect_gradient(std::vector<float>& values, const std::vector<float>& analytic,
                     const std::function<double()>& loss, const char* what);

// sum of x[0..n) in double
double sum_of(const float* x, size_t n);

}  // namespace elbo
