// The CUDA kernels of the layer ops of hierarchical models against the CPU backend
// (skipped without a GPU). Tolerances as in test_cuda_ops.cc: element-wise ops differ
// by libdevice ulps and FMA contraction; the group and weight norms by the order of
// their double sums, amplified by 1/std; the embedding's scatter-add sums each element's
// rows in the same order on both backends, in double, so it matches bit for bit.
#include <gtest/gtest.h>

#include "cuda_compare.h"

namespace elbo {
namespace cuda_test {
namespace {

constexpr double kElemRel = 1e-5, kElemAbs = 1e-6;
constexpr double kNormRel = 1e-4, kNormAbs = 1e-5;

class CudaLayers : public CudaVsCpu {};

TEST_F(CudaLayers, InputDerivativeActivations) {
  const int rows = 37, cols = 300;
  const size_t n = size_t(rows) * cols;
  for (Activation a : {Activation::kSwish, Activation::kSoftplus, Activation::kGELU, Activation::kTanh}) {
    SCOPED_TRACE(int(a));
    Pair x = both_random(n, -9, 9, 1), y = both_random(n, -9, 9, 1), bias = both_random(cols, -1, 1, 2);
    Pair dy = both_random(n, -1, 1, 3), dx = both_zero(n), in_place = both_random(n, -1, 1, 3);
    on_both([&](Backend& be, Side s) {
      be.bias_act_forward((y.*s).data(), (bias.*s).data(), rows, cols, a);
      be.act_backward_from_input((dx.*s).data(), (dy.*s).data(), (x.*s).data(), n, a);
      be.act_backward_from_input((in_place.*s).data(), (in_place.*s).data(), (x.*s).data(), n, a);
    });
    EXPECT_TRUE(all_close(gpu_host(y), cpu_host(y), kElemRel, kElemAbs));
    EXPECT_TRUE(all_close(gpu_host(dx), cpu_host(dx), kElemRel, kElemAbs));
    EXPECT_TRUE(all_close(gpu_host(in_place), cpu_host(in_place), kElemRel, kElemAbs));
  }
}

TEST_F(CudaLayers, ColumnBlocksAndResampling) {
  const int rows = 53, planes = 3 * 7, h = 5, w = 9;
  Pair src = both_random(size_t(rows) * 30, -1, 1, 4), dst = both_random(size_t(rows) * 50, -1, 1, 5);
  Pair small = both_random(size_t(planes) * h * w, -1, 1, 6), big = both_random(4 * size_t(planes) * h * w, -1, 1, 7);
  Pair up = both_random(4 * size_t(planes) * h * w, -1, 1, 8), pooled = both_random(size_t(planes) * h * w, -1, 1, 9);
  Pair up2 = both_zero(4 * size_t(planes) * h * w), pooled2 = both_zero(size_t(planes) * h * w);
  on_both([&](Backend& be, Side s) {
    be.copy_columns((dst.*s).data() + 20, 50, (src.*s).data(), 30, rows, 30, true);
    be.copy_columns((dst.*s).data(), 50, (src.*s).data() + 10, 30, rows, 20, false);
    be.upsample2x((up.*s).data(), (small.*s).data(), planes, h, w, 1, 0.25f, true);
    be.upsample2x((up2.*s).data(), (small.*s).data(), planes, h, w, 1, 1.0f, false);
    be.sum_pool2x((pooled.*s).data(), (big.*s).data(), planes, h, w, 1, 1.0f, true);
    be.sum_pool2x((pooled2.*s).data(), (big.*s).data(), planes, h, w, 1, 0.25f, false);
  });
  EXPECT_TRUE(bitwise_equal(gpu_host(dst), cpu_host(dst)));
  EXPECT_TRUE(bitwise_equal(gpu_host(up2), cpu_host(up2)));
  EXPECT_TRUE(all_close(gpu_host(up), cpu_host(up), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(pooled), cpu_host(pooled), kElemRel, kElemAbs));
  EXPECT_TRUE(all_close(gpu_host(pooled2), cpu_host(pooled2), kElemRel, kElemAbs));
}

TEST_F(CudaLayers, GroupNormForwardAndBackward) {
  const int n = 5, c = 12, hw = 7 * 9, groups = 4;  // groups of 3 channels: 189 elements, under a block's 256
  const size_t size = size_t(n) * c * hw;
  for (bool accumulate : {false, true}) {
    Pair x = both_random(size, -2, 3, 10), dy = both_random(size, -1, 1, 11), gamma = both_random(c, -2, 2, 12);
    Pair beta = both_random(c, -1, 1, 13), y = both_zero(size), stats = both_zero(2 * n * groups);
    Pair dx = both_random(size, -1, 1, 14), dgamma = both_random(c, -1, 1, 15), dbeta = both_random(c, -1, 1, 16);
    on_both([&](Backend& be, Side s) {
      be.group_norm_forward((y.*s).data(), (stats.*s).data(), (x.*s).data(), (gamma.*s).data(), (beta.*s).data(), n,
                            c, hw, groups, 1e-5f);
      be.group_norm_backward((dx.*s).data(), (dgamma.*s).data(), (dbeta.*s).data(), (dy.*s).data(), (x.*s).data(),
                             (stats.*s).data(), (gamma.*s).data(), n, c, hw, groups, accumulate);
    });
    EXPECT_TRUE(all_close(gpu_host(stats), cpu_host(stats), kNormRel, kNormAbs));
    EXPECT_TRUE(all_close(gpu_host(y), cpu_host(y), kNormRel, kNormAbs));
    EXPECT_TRUE(all_close(gpu_host(dx), cpu_host(dx), kNormRel, kNormAbs));
    EXPECT_TRUE(all_close(gpu_host(dgamma), cpu_host(dgamma), kNormRel, kNormAbs));
    EXPECT_TRUE(all_close(gpu_host(dbeta), cpu_host(dbeta), kNormRel, kNormAbs));
  }
}

TEST_F(CudaLayers, WeightNormForwardAndBackward) {
  const int rows = 19, cols = 600;  // rows longer than a block
  Pair v = both_random(size_t(rows) * cols, -1, 1, 17), g = both_random(rows, -2, 2, 18);
  Pair dw = both_random(size_t(rows) * cols, -1, 1, 19), w = both_zero(size_t(rows) * cols), norms = both_zero(rows);
  Pair dv = both_random(size_t(rows) * cols, -1, 1, 20), dg = both_random(rows, -1, 1, 21);
  on_both([&](Backend& be, Side s) {
    be.weight_norm_forward((w.*s).data(), (norms.*s).data(), (v.*s).data(), (g.*s).data(), rows, cols);
    be.weight_norm_backward((dv.*s).data(), (dg.*s).data(), (dw.*s).data(), (v.*s).data(), (g.*s).data(),
                            (norms.*s).data(), rows, cols);
  });
  EXPECT_TRUE(all_close(gpu_host(norms), cpu_host(norms), kNormRel, kNormAbs));
  EXPECT_TRUE(all_close(gpu_host(w), cpu_host(w), kNormRel, kNormAbs));
  EXPECT_TRUE(all_close(gpu_host(dv), cpu_host(dv), kNormRel, kNormAbs));
  EXPECT_TRUE(all_close(gpu_host(dg), cpu_host(dg), kNormRel, kNormAbs));
}

TEST_F(CudaLayers, EmbeddingGatherAndScatterAdd) {
  const int rows = 300, classes = 7, dim = 33;
  std::vector<float> index(rows);
  for (int r = 0; r < rows; ++r) index[r] = float((r * 5) % (classes + 2)) - 1.0f;  // -1 .. classes: two invalid
  Pair idx = both(index), table = both_random(size_t(classes) * dim, -1, 1, 22);
  Pair dy = both_random(size_t(rows) * dim, -1, 1, 23), y = both_random(size_t(rows) * dim, -1, 1, 24);
  Pair dtable = both_random(size_t(classes) * dim, -1, 1, 25);
  on_both([&](Backend& be, Side s) {
    be.embedding_forward((y.*s).data(), (table.*s).data(), (idx.*s).data(), rows, classes, dim);
    be.embedding_backward((dtable.*s).data(), (dy.*s).data(), (idx.*s).data(), rows, classes, dim);
  });
  EXPECT_TRUE(bitwise_equal(gpu_host(y), cpu_host(y)));
  EXPECT_TRUE(bitwise_equal(gpu_host(dtable), cpu_host(dtable)));
}

}  // namespace
}  // namespace cuda_test
}  // namespace elbo
