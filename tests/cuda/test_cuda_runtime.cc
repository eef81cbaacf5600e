// The CUDA backend's runtime side: device discovery (also checked on machines
// without a GPU), memory and copies, and CUDA graph capture / replay.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda_compare.h"
#include "elbo/error.h"

namespace elbo {
namespace cuda_test {
namespace {

TEST(CudaDiscovery, CompiledAndCountingNeverThrows) {
  EXPECT_TRUE(cuda_backend_compiled());
  EXPECT_GE(cuda_device_count(), 0);
}

TEST(CudaDiscovery, NoVisibleDeviceIsAClearError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is visible; this checks the no-GPU message";
  try {
    make_backend(Device{DeviceType::kCUDA, 0});
    FAIL() << "make_backend(cuda:0) succeeded without a GPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is visible"), std::string::npos) << e.what();
  }
}

TEST(CudaDiscovery, DeviceIndexOutOfRangeNamesTheValidRange) {
  const int count = cuda_device_count();
  if (count == 0) GTEST_SKIP() << "no CUDA device visible";
  try {
    make_cuda_backend(count, GemmPrecision::kFP32);
    FAIL() << "cuda:" << count << " accepted with " << count << " device(s)";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("only " + std::to_string(count) + " CUDA device(s)"), std::string::npos)
        << e.what();
  }
  auto be = make_backend(Device{DeviceType::kCUDA, 0}, GemmPrecision::kTF32);
  EXPECT_TRUE(be->device().is_cuda());
  EXPECT_EQ(be->name().rfind("cuda:0 (", 0), 0u) << be->name();
  EXPECT_NE(be->name().find("TF32"), std::string::npos) << be->name();
}

using CudaMemory = CudaVsCpu;

TEST_F(CudaMemory, AllocZeroFillsAndCopiesRoundTrip) {
  const size_t n = 4099;
  DeviceBuffer a(gpu_.get(), n), b(gpu_.get(), n);
  EXPECT_TRUE(bitwise_equal(host(*gpu_, a), std::vector<float>(n, 0.0f)));
  const std::vector<float> h = random_vec(n, -5, 5, 1);
  gpu_->copy_to_device(a.data(), h.data(), n);
  gpu_->copy(b.data(), a.data(), n);
  EXPECT_TRUE(bitwise_equal(host(*gpu_, b), h));
  gpu_->fill(b.data(), n, -2.5f);
  EXPECT_TRUE(bitwise_equal(host(*gpu_, b), std::vector<float>(n, -2.5f)));
  gpu_->fill(b.data(), n, 0.0f);
  EXPECT_TRUE(bitwise_equal(host(*gpu_, b), std::vector<float>(n, 0.0f)));
  gpu_->synchronize();
}

TEST_F(CudaMemory, OverlappingCopyBehavesLikeMemmove) {
  const size_t n = 1000;
  for (long shift : {-7L, 7L}) {
    Pair x = both_random(n + 7, -1, 1, 2);
    const size_t dst = shift > 0 ? 7 : 0, src = shift > 0 ? 0 : 7;
    on_both([&](Backend& be, Side s) { be.copy((x.*s).data() + dst, (x.*s).data() + src, n); });
    EXPECT_TRUE(bitwise_equal(gpu_host(x), cpu_host(x))) << "shift " << shift;
  }
}

TEST_F(CudaMemory, HostStagingIsZeroedAndFeedsCopies) {
  const size_t n = 777;
  float* staging = gpu_->alloc_host_staging(n);
  ASSERT_NE(staging, nullptr);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(staging[i], 0.0f) << i;
  for (size_t i = 0; i < n; ++i) staging[i] = float(i) * 0.5f;
  DeviceBuffer d(gpu_.get(), n);
  gpu_->copy_to_device(d.data(), staging, n);
  std::vector<float> back = host(*gpu_, d);  // synchronises before staging is reused
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(back[i], float(i) * 0.5f) << i;
  gpu_->release_host_staging(staging);
}

using CudaGraphs = CudaVsCpu;

// A captured step (scale, axpy, a cuBLAS GEMM) does nothing at capture time and
// exactly the captured work at every replay.
TEST_F(CudaGraphs, CaptureThenReplayRunsTheStepEachTime) {
  const int m = 24, k = 40, n = 16;
  const std::vector<float> x0 = random_vec(256, -1, 1, 3), y0 = random_vec(256, -1, 1, 4);
  const std::vector<float> a_h = random_vec(size_t(m) * k, -1, 1, 5), b_h = random_vec(size_t(k) * n, -1, 1, 6);
  DeviceBuffer x(gpu_.get(), x0.size()), y(gpu_.get(), y0.size());
  DeviceBuffer a(gpu_.get(), a_h.size()), b(gpu_.get(), b_h.size()), c(gpu_.get(), size_t(m) * n);
  gpu_->copy_to_device(x.data(), x0.data(), x0.size());
  gpu_->copy_to_device(y.data(), y0.data(), y0.size());
  gpu_->copy_to_device(a.data(), a_h.data(), a_h.size());
  gpu_->copy_to_device(b.data(), b_h.data(), b_h.size());
  gpu_->synchronize();

  ASSERT_TRUE(gpu_->capture_begin());
  EXPECT_FALSE(gpu_->capture_begin()) << "nested capture must be refused";
  gpu_->scale(x.data(), x0.size(), 2.0f);
  gpu_->axpy(y.data(), x.data(), y0.size(), 1.0f);
  gpu_->gemm(false, true, m, n, k, 1.0f, a.data(), b.data(), 1.0f, c.data());  // b read as [n, k]
  EXPECT_THROW(gpu_->alloc(16), Error);  // refused before reaching CUDA: the capture stays valid
  EXPECT_THROW(gpu_->synchronize(), Error);
  gpu_->capture_end();

  EXPECT_TRUE(bitwise_equal(host(*gpu_, x), x0)) << "capture must not execute the work";
  EXPECT_TRUE(bitwise_equal(host(*gpu_, y), y0));

  for (int i = 0; i < 3; ++i) gpu_->replay();
  // Host replica of the three steps: multiplications by 2 and the adds are exact in
  // the same order, so the results must match bit for bit.
  std::vector<float> xe = x0, ye = y0;
  for (int i = 0; i < 3; ++i)
    for (size_t j = 0; j < xe.size(); ++j) {
      xe[j] *= 2.0f;
      ye[j] += xe[j];
    }
  EXPECT_TRUE(bitwise_equal(host(*gpu_, x), xe));
  EXPECT_TRUE(bitwise_equal(host(*gpu_, y), ye));
  std::vector<float> ce(size_t(m) * n, 0.0f);
  for (int i = 0; i < 3; ++i) cpu_->gemm(false, true, m, n, k, 1.0f, a_h.data(), b_h.data(), 1.0f, ce.data());
  EXPECT_TRUE(all_close(host(*gpu_, c), ce, 1e-4, 1e-4));
}

TEST_F(CudaGraphs, MisuseIsAClearError) {
  auto fresh = make_cuda_backend(0, GemmPrecision::kFP32);
  EXPECT_THROW(fresh->replay(), Error);
  EXPECT_THROW(fresh->capture_end(), Error);
}

// Releasing memory that was alive when the capture began changes graph_generation()
// (the graph may hold pointers into it, so StepProgram must not replay it); memory
// allocated after the capture does not. A release during the capture (an error
// unwinding out of the captured step) is not recorded into the graph and does not
// throw: it is done when the capture ends.
TEST_F(CudaGraphs, ReleasingMemoryTheGraphMayReadChangesTheGeneration) {
  auto be = make_cuda_backend(0, GemmPrecision::kFP32);
  DeviceBuffer x(be.get(), 64), old_buffer(be.get(), 64), freed_in_capture(be.get(), 64);
  ASSERT_TRUE(be->capture_begin());
  be->scale(x.data(), 64, 2.0f);
  const uint64_t g0 = be->graph_generation();
  freed_in_capture.reset();
  EXPECT_NE(be->graph_generation(), g0);
  be->capture_end();
  be->replay();
  const uint64_t g1 = be->graph_generation();
  {
    DeviceBuffer younger(be.get(), 64);
  }
  EXPECT_EQ(be->graph_generation(), g1) << "memory allocated after the capture cannot be the graph's";
  old_buffer.reset();
  EXPECT_NE(be->graph_generation(), g1);
  be->synchronize();
}

// A sticky CUDA error (an illegal address in a kernel) makes every later CUDA call
// fail, cudaFreeAsync included. Releasing a DeviceBuffer while that error unwinds the
// stack must not throw (std::terminate would hide the error): the child process must
// end with the error caught and printed, not with SIGABRT. A death test, because a
// sticky error ruins the CUDA context of the process that caused it.
void sticky_error_then_release() {
  try {
    auto be = make_cuda_backend(0, GemmPrecision::kFP32);
    DeviceBuffer live(be.get(), 1024);
    be->fill(reinterpret_cast<float*>(uintptr_t(0x100)), 1024, 1.0f);  // writes to an invalid address
    be->synchronize();  // throws: the kernel's error
    std::fprintf(stderr, "no error reported\n");
    std::exit(1);
  } catch (const Error& e) {
    std::fprintf(stderr, "caught: %s\n", e.what());
    std::exit(3);
  }
}

TEST(CudaCleanup, AStickyErrorReachesTheUserInsteadOfTerminate) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible";
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";  // a fresh process, not a fork of one using CUDA
  EXPECT_EXIT(sticky_error_then_release(), ::testing::ExitedWithCode(3), "caught: .*illegal");
}

}  // namespace
}  // namespace cuda_test
}  // namespace elbo
