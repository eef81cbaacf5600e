// The cuDNN workspace and CUDA graphs: a graph captured while the workspace was alive has
// its pointer built in, so growing the workspace later (a validation or sampling pass at
// a bigger batch, after the step was captured) must tell the backend's GraphMemoryWatch,
// which then makes the trainer capture the step again instead of replaying it into freed
// memory (include/elbo/graph_memory.h). It once freed and reallocated it unseen.
#include <gtest/gtest.h>

#if defined(ELBO_WITH_CUDNN)
#include <cuda_runtime_api.h>

#include <vector>

#include "cudnn_conv.h"
#include "elbo/graph_memory.h"

namespace elbo {
namespace {

ConvShape conv(int n, int c_in, int hw, int c_out) {
  ConvShape s;
  s.n = n, s.c_in = c_in, s.h = s.w = hw, s.c_out = c_out, s.kh = s.kw = 3, s.stride = 1, s.pad = 1;
  return s;
}

// Zeroed device floats, freed at the end of the test.
struct DeviceFloats {
  explicit DeviceFloats(size_t n) {
    void* raw = nullptr;
    EXPECT_EQ(cudaMalloc(&raw, n * sizeof(float)), cudaSuccess);
    EXPECT_EQ(cudaMemset(raw, 0, n * sizeof(float)), cudaSuccess);
    p = static_cast<float*>(raw);
  }
  ~DeviceFloats() { cudaFree(p); }
  float* p = nullptr;
};

// The three ops of s, on zeros (the values do not matter here, only the workspace).
void run_all(CudnnConv& c, const ConvShape& s) {
  DeviceFloats x(s.x_size()), y(s.y_size()), w(s.w_size()), b(size_t(s.c_out)), dw(s.w_size()), db(size_t(s.c_out));
  c.forward(y.p, x.p, w.p, b.p, s);
  c.backward_data(x.p, y.p, w.p, s, 0.0f);
  c.backward_weights(dw.p, db.p, y.p, x.p, s);
}

struct Stream {
  Stream() { EXPECT_EQ(cudaStreamCreate(&s), cudaSuccess); }
  ~Stream() { cudaStreamDestroy(s); }
  cudaStream_t s = nullptr;
};

TEST(CudnnWorkspace, GrowingItAfterACaptureTellsTheGraphMemoryWatch) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    GTEST_SKIP() << "no CUDA device visible";
  }
  Stream stream;
  GraphMemoryWatch watch;
  int drains = 0;  // the workspace's growth waits through the backend's (polled) drain
  CudnnConv c(stream.s, false, "test", watch, [&] {
    ++drains;
    ASSERT_EQ(cudaStreamSynchronize(stream.s), cudaSuccess);
  });
  run_all(c, conv(4, 16, 8, 16));
  const size_t small = c.workspace_bytes();
  watch.capture_began();  // a step captured now would read the workspace
  const uint64_t generation = watch.generation();
  run_all(c, conv(128, 64, 32, 64));
  const size_t big = c.workspace_bytes();
  if (small == 0) GTEST_SKIP() << "cuDNN needed no workspace for the small shape, so no graph could read one";
  if (big == small) GTEST_SKIP() << "cuDNN needed no more workspace for the big shape (" << big << " bytes)";
  EXPECT_GE(drains, 2) << "each growth drains the stream first (small, then big)";
  EXPECT_NE(watch.generation(), generation)
      << "the workspace alive at the capture (" << small << " bytes) was freed for " << big
      << " bytes without telling the watch";
}

}  // namespace
}  // namespace elbo
#else
TEST(CudnnWorkspace, NeedsCudnn) { GTEST_SKIP() << "built without cuDNN"; }
#endif
