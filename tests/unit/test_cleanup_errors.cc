// Releases run in destructors, also while an error unwinds the stack. A release that
// throws there (a device with a sticky error fails every later call) would be
// std::terminate, and the user would never read the error that started it. These run
// on RecordingBackend with fail_cleanup, which throws from release() the way the CUDA
// backend's CUDA_CHECK did; the CUDA backend's own release is checked on a GPU
// (tests/cuda/test_cuda_runtime.cc, CudaCleanup).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "support/recording_backend.h"

namespace elbo {
namespace {

size_t count_of(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size())) ++n;
  return n;
}

TEST(CleanupErrors, AFailingReleaseWhileAnErrorUnwindsLetsThatErrorThrough) {
  RecordingBackend be;
  try {
    DeviceBuffer a(&be, 16), b(&be, 32);
    be.fail_cleanup = true;  // the device broke: every release fails from now on
    throw Error("CUDA error: an illegal memory access was encountered");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "CUDA error: an illegal memory access was encountered");
  }
  be.fail_cleanup = false;
}

TEST(CleanupErrors, MovingOverABufferWhoseReleaseFailsDoesNotTerminate) {
  RecordingBackend be;
  DeviceBuffer a(&be, 4), b(&be, 4);
  be.fail_cleanup = true;
  a = std::move(b);  // noexcept: releases a's old memory
  a.reset();
  be.fail_cleanup = false;
  EXPECT_EQ(a.data(), nullptr);
}

// The report is printed once per process: in a fresh process (death-test style
// "threadsafe" re-runs this test alone), two failing releases print one line.
void two_failing_releases() {
  RecordingBackend be;
  ::testing::internal::CaptureStderr();
  {
    DeviceBuffer a(&be, 4);
    DeviceBuffer b(&be, 4);
    be.fail_cleanup = true;
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  be.fail_cleanup = false;
  const bool once = count_of(err, "failed during cleanup") == 1 &&
                    err.find("releasing device memory failed during cleanup") != std::string::npos;
  std::fprintf(stderr, "%s", err.c_str());
  std::exit(once ? 0 : 1);
}

TEST(CleanupErrors, AFailedReleaseIsReportedOnceOnStderr) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_EXIT(two_failing_releases(), ::testing::ExitedWithCode(0), "injected device error");
}

}  // namespace
}  // namespace elbo
