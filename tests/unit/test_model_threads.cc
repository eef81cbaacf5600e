// A whole model trained for a few steps gives bitwise the same parameters, Adam moments
// and losses on 1, 2 and 3 CPU threads: GEMM blocks, element-wise parts and reductions
// are split over the pool without changing any result. (tests/cuda/test_cuda_model.cc
// runs the same harness on the GPU against the CPU.)
#include <gtest/gtest.h>

#include "support/train_steps.h"

namespace elbo {
namespace {

TEST(ModelThreads, TrainingStepsAreBitwiseIdenticalForAnyThreadCount) {
  ModelConfig model;
  model.hidden = {256, 128};  // large enough for the GEMMs to be cut into blocks
  model.latent = 16;
  TrainConfig train;
  train.lr = 2e-3f;
  const int dim = 196, rows = 64, steps = 8;
  const std::vector<float> images = synthetic_batches(steps, rows, dim, 3);
  auto be1 = make_cpu_backend(1);
  const TrainStepsResult one = run_train_steps(*be1, model, train, dim, rows, steps, images, 5);
  for (int threads : {2, 3}) {
    auto be = make_cpu_backend(threads);
    const TrainStepsResult many = run_train_steps(*be, model, train, dim, rows, steps, images, 5);
    EXPECT_EQ(many.params, one.params) << threads << " threads";
    EXPECT_EQ(many.adam_m, one.adam_m) << threads << " threads";
    EXPECT_EQ(many.adam_v, one.adam_v) << threads << " threads";
    EXPECT_EQ(many.recon, one.recon) << threads << " threads";
    EXPECT_EQ(many.kl, one.kl) << threads << " threads";
  }
  // The model learned something: the loss of the last step is below that of the first.
  EXPECT_LT(one.recon.back(), one.recon.front());
}

// Asking the CPU backend for a graph leaves the steps eager, says why, and changes nothing.
TEST(ModelThreads, GraphRequestOnTheCpuRunsEagerly) {
  ModelConfig model;
  model.hidden = {64};
  model.latent = 4;
  const int dim = 49, rows = 16, steps = 4;
  const std::vector<float> images = synthetic_batches(steps, rows, dim, 9);
  auto be = make_cpu_backend(1);
  const TrainStepsResult eager = run_train_steps(*be, model, TrainConfig{}, dim, rows, steps, images, 2, false);
  const TrainStepsResult asked = run_train_steps(*be, model, TrainConfig{}, dim, rows, steps, images, 2, true);
  EXPECT_FALSE(asked.graph_used);
  EXPECT_NE(asked.graph_failure.find("cannot capture"), std::string::npos) << asked.graph_failure;
  EXPECT_EQ(asked.params, eager.params);
  EXPECT_EQ(asked.recon, eager.recon);
}

}  // namespace
}  // namespace elbo
