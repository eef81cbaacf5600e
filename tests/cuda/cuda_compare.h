// Helpers for the CUDA backend tests: a GPU and a CPU backend side by side, random
// inputs, uploads/downloads, and element-wise comparison with a stated tolerance
// that reports the worst element instead of thousands of lines.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "elbo/backend.h"

namespace elbo {
namespace cuda_test {

inline std::vector<float> random_vec(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// |got - want| <= abs_tol + rel_tol * |want| for every element, NaN only where want is NaN.
inline ::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want,
                                            double rel_tol, double abs_tol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) || std::isnan(g)) {
      if (std::isnan(w) != std::isnan(g)) {
        ++bad;
        if (worst_excess < INFINITY) worst_excess = INFINITY, worst = i;
      }
      continue;
    }
    const double excess = std::fabs(g - w) - (abs_tol + rel_tol * std::fabs(w));
    if (excess > 0) {
      ++bad;
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ beyond rel " << rel_tol
                                       << " abs " << abs_tol << "; worst at [" << worst << "]: got " << got[worst]
                                       << " want " << want[worst];
}

inline ::testing::AssertionResult bitwise_equal(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0)
      return ::testing::AssertionFailure() << "first difference at [" << i << "]: got " << got[i] << " want "
                                           << want[i];
  return ::testing::AssertionSuccess();
}

// Skips the test unless a GPU is visible; otherwise gives a CUDA and a CPU backend.
class CudaVsCpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible";
    gpu_ = make_cuda_backend(0, GemmPrecision::kFP32);
    cpu_ = make_cpu_backend();
  }

  // The same values on both backends.
  struct Pair {
    DeviceBuffer g, c;
  };
  Pair both(const std::vector<float>& host) {
    Pair p{DeviceBuffer(gpu_.get(), host.size()), DeviceBuffer(cpu_.get(), host.size())};
    gpu_->copy_to_device(p.g.data(), host.data(), host.size());
    cpu_->copy_to_device(p.c.data(), host.data(), host.size());
    return p;
  }
  Pair both_random(size_t n, float lo, float hi, uint32_t seed) { return both(random_vec(n, lo, hi, seed)); }
  Pair both_zero(size_t n) { return both(std::vector<float>(n, 0.0f)); }

  std::vector<float> host(Backend& be, const DeviceBuffer& b) {
    std::vector<float> out(b.size());
    be.copy_to_host(out.data(), b.data(), b.size());
    return out;
  }
  // f(backend, side) runs one op on a backend with that backend's buffers:
  // on_both([&](Backend& be, Side s) { be.scale((x.*s).data(), n, 2.0f); });
  using Side = DeviceBuffer Pair::*;
  template <class F>
  void on_both(F&& f) {
    f(*gpu_, &Pair::g);
    f(*cpu_, &Pair::c);
  }

  std::vector<float> gpu_host(const Pair& p) { return host(*gpu_, p.g); }
  std::vector<float> cpu_host(const Pair& p) { return host(*cpu_, p.c); }

  std::unique_ptr<Backend> gpu_, cpu_;
};

}  // namespace cuda_test
}  // namespace elbo
