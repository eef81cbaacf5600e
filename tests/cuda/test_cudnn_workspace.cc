// The cuDNN workspace and CUDA graphs: a graph captured while the workspace was alive has
// its pointer built in, so growing the workspace later (a validation or sampling pass at
// a bigger batch, after the step was captured) must tell the backend's GraphMemoryWatch,
// which then makes the trainer capture the step again instead of replaying it into freed
// memory (include/elbo/graph_memory.h). It once freed and reallocated it unseen, then
// (session 18) freed it with a plain cudaFree after a host wait, either of which can
// block for ever behind a collective that never completes. Now it grows through the
// backend's own alloc and release (watched, stream-ordered); this test checks that
// CudnnConv uses them, one workspace at a time, the new one before the old one goes.
#include <gtest/gtest.h>

#if defined(ELBO_WITH_CUDNN)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "cudnn_conv.h"

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

TEST(CudnnWorkspace, GrowsThroughTheBackendsAllocatorNewBeforeOld) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    GTEST_SKIP() << "no CUDA device visible";
  }
  Stream stream;
  // Stand-ins for CudaBackend::alloc and release (which tell its GraphMemoryWatch and free
  // in stream order: test_cuda_runtime.cc's CudaGraphs tests): they record the order.
  std::vector<char> events;  // 'a' allocate, 'r' release
  std::vector<float*> live;
  auto allocate = [&](size_t floats) {
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, floats * sizeof(float)), cudaSuccess);
    events.push_back('a');
    live.push_back(static_cast<float*>(p));
    return static_cast<float*>(p);
  };
  auto release = [&](float* p) {
    events.push_back('r');
    auto it = std::find(live.begin(), live.end(), p);
    EXPECT_TRUE(it != live.end()) << "released a workspace it never allocated, or twice";
    if (it != live.end()) live.erase(it);
    cudaFree(p);
  };
  size_t small = 0, big = 0;
  {
    CudnnConv c(stream.s, false, "test", allocate, release);
    run_all(c, conv(4, 16, 8, 16));
    small = c.workspace_bytes();
    run_all(c, conv(128, 64, 32, 64));
    big = c.workspace_bytes();
    EXPECT_EQ(live.size(), big > 0 ? 1u : 0u) << "one workspace alive at a time";
  }
  EXPECT_TRUE(live.empty()) << "the destructor releases the workspace";
  if (small == 0) GTEST_SKIP() << "cuDNN needed no workspace for the small shape, so none was replaced";
  if (big == small) GTEST_SKIP() << "cuDNN needed no more workspace for the big shape (" << big << " bytes)";
  // Every release but the destructor's follows the allocation of its successor.
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.front(), 'a');
  EXPECT_EQ(events.back(), 'r');
  for (size_t i = 1; i + 1 < events.size(); ++i)
    if (events[i] == 'r') EXPECT_EQ(events[i - 1], 'a') << "event " << i << ": the old workspace went before the new one came";
}

}  // namespace
}  // namespace elbo
#else
TEST(CudnnWorkspace, NeedsCudnn) { GTEST_SKIP() << "built without cuDNN"; }
#endif
