// The CUDA backend's 2-D convolutions (cuDNN) against the CPU backend's (oneDNN) on
// the shapes of tests/unit/test_conv_ops.cc's kind: forward, backward-data (assign
// and accumulate) and backward-weights (accumulating), within FP32 rounding
// (1e-4 relative to the largest |value| of the result: the two libraries sum in
// different orders), and bitwise the same on a second run (deterministic algorithms).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "cuda_compare.h"

namespace elbo {
namespace cuda_test {
namespace {

ConvShape conv(int n, int c_in, int h, int w, int c_out, int k, int stride, int pad) {
  ConvShape s;
  s.n = n, s.c_in = c_in, s.h = h, s.w = w, s.c_out = c_out, s.kh = s.kw = k, s.stride = stride, s.pad = pad;
  return s;
}

const ConvShape kShapes[] = {conv(17, 3, 9, 11, 7, 3, 2, 1), conv(33, 1, 28, 28, 32, 4, 2, 1),
                             conv(20, 32, 14, 14, 64, 4, 2, 1), conv(5, 5, 8, 6, 3, 4, 1, 0)};

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

class CudaConv : public CudaVsCpu {
 protected:
  void SetUp() override {
    CudaVsCpu::SetUp();
    if (IsSkipped()) return;
    if (gpu_->conv2d_implementation(kShapes[0]).empty()) GTEST_SKIP() << "built without cuDNN";
  }
  void expect_close(const Pair& p, const char* what, const ConvShape& s) {
    const std::vector<float> want = cpu_host(p);
    EXPECT_TRUE(all_close(gpu_host(p), want, 0.0, 1e-4 * max_abs(want)))
        << what << " n" << s.n << " " << s.c_in << "->" << s.c_out << " " << s.h << "x" << s.w;
  }
};

TEST_F(CudaConv, MatchesTheCpuBackendAndRepeatsBitwise) {
  std::printf("%s\n", gpu_->conv2d_implementation(kShapes[0]).c_str());
  for (const ConvShape& s : kShapes) {
    Pair x = both_random(s.x_size(), -1, 1, 1), w = both_random(s.w_size(), -1, 1, 2),
         b = both_random(size_t(s.c_out), -1, 1, 3), dy = both_random(s.y_size(), -1, 1, 4),
         y = both_zero(s.y_size()), dx = both_random(s.x_size(), -1, 1, 5), dx0 = both_zero(s.x_size()),
         dw = both_random(s.w_size(), -1, 1, 6), db = both_random(size_t(s.c_out), -1, 1, 7);
    on_both([&](Backend& be, Side side) {
      be.conv2d_forward((y.*side).data(), (x.*side).data(), (w.*side).data(), (b.*side).data(), s);
      be.conv2d_backward_data((dx.*side).data(), (dy.*side).data(), (w.*side).data(), s, 1.0f);
      be.conv2d_backward_data((dx0.*side).data(), (dy.*side).data(), (w.*side).data(), s, 0.0f);
      be.conv2d_backward_weights((dw.*side).data(), (db.*side).data(), (dy.*side).data(), (x.*side).data(), s);
    });
    expect_close(y, "forward", s);
    expect_close(dx, "backward_data beta 1", s);
    expect_close(dx0, "backward_data beta 0", s);
    expect_close(dw, "backward_weights dw", s);
    expect_close(db, "backward_weights db", s);
    // The same again on the GPU: bitwise the same results.
    const std::vector<float> y1 = gpu_host(y), dx1 = gpu_host(dx0);
    DeviceBuffer dw2(gpu_.get(), s.w_size());
    gpu_->copy(dw2.data(), dw.g.data(), s.w_size());
    gpu_->conv2d_forward(y.g.data(), x.g.data(), w.g.data(), b.g.data(), s);
    gpu_->conv2d_backward_data(dx0.g.data(), dy.g.data(), w.g.data(), s, 0.0f);
    gpu_->conv2d_backward_weights(dw.g.data(), nullptr, dy.g.data(), x.g.data(), s);
    gpu_->conv2d_backward_weights(dw2.data(), nullptr, dy.g.data(), x.g.data(), s);
    EXPECT_TRUE(bitwise_equal(gpu_host(y), y1));
    EXPECT_TRUE(bitwise_equal(gpu_host(dx0), dx1));
    EXPECT_TRUE(bitwise_equal(gpu_host(dw), host(*gpu_, dw2)));
  }
}

}  // namespace
}  // namespace cuda_test
}  // namespace elbo
