// The whole model on the GPU against the CPU: 20 training steps (binarize, forward,
// backward, Adam) from the same initial weights and the same Philox noise. FP32 GEMMs
// on both sides; the difference is rounding only (cuBLAS sums in another order than
// OpenBLAS, libdevice's transcendental functions differ by ulps), compounded over the
// steps. Stated tolerance: parameters and Adam moments within 1e-4 relative (2-norm
// over the flat buffer), per-step losses within 1e-4 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "elbo/backend.h"
#include "elbo/kernels/philox.h"
#include "elbo/models/vae_model.h"
#include "support/train_steps.h"

namespace elbo {
namespace {

class CudaModel : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible";
  }
  // 196 -> 256 -> 128 -> 16 latents, with the likelihood under test.
  static ModelConfig model() {
    ModelConfig m;
    m.hidden = {256, 128};
    m.latent = 16;
    m.likelihood = GetParam();
    return m;
  }
};

TEST_P(CudaModel, TwentyStepsMatchTheCpu) {
  TrainConfig train;
  train.lr = 1e-3f;
  const int dim = 196, rows = 64, steps = 20;
  const std::vector<float> images = synthetic_batches(steps, rows, dim, 3);
  auto cpu = make_cpu_backend(1);
  auto gpu = make_cuda_backend(0, GemmPrecision::kFP32);
  const TrainStepsResult want = run_train_steps(*cpu, model(), train, dim, rows, steps, images, 5);
  const TrainStepsResult got = run_train_steps(*gpu, model(), train, dim, rows, steps, images, 5);
  EXPECT_LE(relative_difference(got.params, want.params), 1e-4);
  EXPECT_LE(relative_difference(got.adam_m, want.adam_m), 1e-4);
  EXPECT_LE(relative_difference(got.adam_v, want.adam_v), 1e-4);
  for (int s = 0; s < steps; ++s) {
    EXPECT_NEAR(got.recon[s], want.recon[s], 1e-4 * std::fabs(want.recon[s])) << "step " << s;
    EXPECT_NEAR(got.kl[s], want.kl[s], 1e-4 * std::fabs(want.kl[s]) + 1e-6) << "step " << s;
  }
  // Two GPU runs: bitwise the same (deterministic kernels, no atomics).
  const TrainStepsResult again = run_train_steps(*gpu, model(), train, dim, rows, steps, images, 5);
  EXPECT_EQ(again.params, got.params);
}

// The step captured once as a CUDA graph and replayed gives the same bits as eager
// steps: the replays read each step's noise serial, KL weight and Adam bias corrections
// from device memory (StepScalars), not the values frozen at capture.
TEST_P(CudaModel, GraphReplayedStepsEqualEagerSteps) {
  TrainConfig train;
  train.grad_clip = 5.0f;  // the clip scale, too, must be computed on the device in every replay
  const int dim = 196, rows = 64, steps = 12;
  const std::vector<float> images = synthetic_batches(steps, rows, dim, 4);
  auto gpu = make_cuda_backend(0, GemmPrecision::kFP32);
  const TrainStepsResult eager = run_train_steps(*gpu, model(), train, dim, rows, steps, images, 6, false);
  const TrainStepsResult replayed = run_train_steps(*gpu, model(), train, dim, rows, steps, images, 6, true);
  ASSERT_TRUE(replayed.graph_used) << "capture failed: " << replayed.graph_failure;
  EXPECT_EQ(replayed.params, eager.params);
  EXPECT_EQ(replayed.adam_m, eager.adam_m);
  EXPECT_EQ(replayed.adam_v, eager.adam_v);
  EXPECT_EQ(replayed.recon, eager.recon);
  EXPECT_EQ(replayed.kl, eager.kl);
}

// Memory that was alive when the step was captured is released between two steps (as
// a layer growing its buffers for a bigger sampling pass releases the ones the graph
// holds), and a sampling pass with twice the rows runs: the program captures the step
// again instead of replaying into freed memory, and the steps stay bitwise equal to
// eager ones.
TEST_P(CudaModel, GraphIsCapturedAgainWhenItsMemoryMayHaveGone) {
  TrainConfig train;
  const int dim = 196, rows = 64, steps = 8;
  const std::vector<float> images = synthetic_batches(steps, rows, dim, 4);
  auto between_steps = [dim, rows]() {
    auto held = std::make_shared<DeviceBuffer>();
    return [held, dim, rows](Backend& be, VaeModel& model, int step) {
      if (step == 0) *held = DeviceBuffer(&be, 1024);  // alive when step 1 is captured
      if (step != 3) return;
      held->reset();
      DeviceBuffer x(&be, size_t(2 * rows) * dim);
      be.fill(x.data(), x.size(), 0.5f);
      model.forward(be, x.data(), 2 * rows, NoiseKey{7, kRngSample, 0, 0});
    };
  };
  auto gpu = make_cuda_backend(0, GemmPrecision::kFP32);
  const TrainStepsResult eager =
      run_train_steps(*gpu, model(), train, dim, rows, steps, images, 6, false, between_steps());
  const TrainStepsResult replayed =
      run_train_steps(*gpu, model(), train, dim, rows, steps, images, 6, true, between_steps());
  ASSERT_TRUE(replayed.graph_used) << "capture failed: " << replayed.graph_failure;
  EXPECT_EQ(replayed.graph_captures, 2);
  EXPECT_EQ(replayed.params, eager.params);
  EXPECT_EQ(replayed.adam_m, eager.adam_m);
  EXPECT_EQ(replayed.recon, eager.recon);
  EXPECT_EQ(replayed.kl, eager.kl);
}

INSTANTIATE_TEST_SUITE_P(Likelihoods, CudaModel, ::testing::Values("bernoulli", "gaussian"));

}  // namespace
}  // namespace elbo
