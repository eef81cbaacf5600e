// train.lr_schedule (optim/lr_schedule.h): the rate of chosen steps of constant, step and
// cosine schedules, each without and with a linear warm-up, against values worked out by
// hand from docs/config.md's definitions. The rates are a function of the step alone, so
// these values are also what a resumed run uses.
#include <gtest/gtest.h>

#include <cmath>

#include "elbo/optim/lr_schedule.h"

namespace elbo {
namespace {

constexpr double kTol = 1e-12;

// lr = 1 keeps the expected values readable: each is the fraction of the base rate.
TrainConfig schedule(const char* kind, int64_t warmup) {
  TrainConfig t;
  t.lr = 1.0f;
  t.lr_schedule = kind;
  t.lr_warmup_steps = warmup;
  t.lr_min = 0.125f;
  t.lr_decay_every = 100;
  t.lr_decay_gamma = 0.5f;
  return t;
}

TEST(LrSchedule, ConstantWithoutWarmup) {
  const TrainConfig t = schedule("constant", 0);
  for (int64_t step : {1, 2, 500, 1000}) EXPECT_NEAR(learning_rate_at(t, step, 1000), 1.0, kTol) << step;
}

TEST(LrSchedule, ConstantWithWarmupRisesLinearlyThenHolds) {
  const TrainConfig t = schedule("constant", 4);
  EXPECT_NEAR(learning_rate_at(t, 1, 1000), 0.25, kTol);
  EXPECT_NEAR(learning_rate_at(t, 2, 1000), 0.5, kTol);
  EXPECT_NEAR(learning_rate_at(t, 4, 1000), 1.0, kTol);  // the warm-up's last step reaches lr
  EXPECT_NEAR(learning_rate_at(t, 5, 1000), 1.0, kTol);
  EXPECT_NEAR(learning_rate_at(t, 1000, 1000), 1.0, kTol);
}

TEST(LrSchedule, StepWithoutWarmupDecaysAfterEachInterval) {
  const TrainConfig t = schedule("step", 0);
  EXPECT_NEAR(learning_rate_at(t, 1, 1000), 1.0, kTol);
  EXPECT_NEAR(learning_rate_at(t, 100, 1000), 1.0, kTol);  // steps 1..100 at lr
  EXPECT_NEAR(learning_rate_at(t, 101, 1000), 0.5, kTol);
  EXPECT_NEAR(learning_rate_at(t, 200, 1000), 0.5, kTol);
  EXPECT_NEAR(learning_rate_at(t, 201, 1000), 0.25, kTol);
  EXPECT_NEAR(learning_rate_at(t, 1000, 1000), std::pow(0.5, 9), kTol);
}

TEST(LrSchedule, StepWithWarmupCountsIntervalsFromTheWarmupsEnd) {
  const TrainConfig t = schedule("step", 10);
  EXPECT_NEAR(learning_rate_at(t, 5, 1000), 0.5, kTol);
  EXPECT_NEAR(learning_rate_at(t, 10, 1000), 1.0, kTol);
  EXPECT_NEAR(learning_rate_at(t, 11, 1000), 1.0, kTol);
  EXPECT_NEAR(learning_rate_at(t, 110, 1000), 1.0, kTol);  // 100 steps after the warm-up
  EXPECT_NEAR(learning_rate_at(t, 111, 1000), 0.5, kTol);
  EXPECT_NEAR(learning_rate_at(t, 211, 1000), 0.25, kTol);
}

TEST(LrSchedule, CosineWithoutWarmupFallsToLrMinAtTheLastStep) {
  const TrainConfig t = schedule("cosine", 0);
  const double span = 1.0 - 0.125;
  EXPECT_NEAR(learning_rate_at(t, 1, 100), 0.125 + span * 0.5 * (1.0 + std::cos(M_PI * 0.01)), kTol);
  EXPECT_NEAR(learning_rate_at(t, 25, 100), 0.125 + span * 0.5 * (1.0 + std::sqrt(0.5)), kTol);
  EXPECT_NEAR(learning_rate_at(t, 50, 100), 0.125 + span * 0.5, kTol);  // half way: the mean
  EXPECT_NEAR(learning_rate_at(t, 100, 100), 0.125, kTol);
  EXPECT_NEAR(learning_rate_at(t, 150, 100), 0.125, kTol);  // past the end (train.steps raised): stays
}

TEST(LrSchedule, CosineWithWarmupDecaysOverTheStepsAfterIt) {
  const TrainConfig t = schedule("cosine", 20);
  EXPECT_NEAR(learning_rate_at(t, 5, 120), 0.25, kTol);
  EXPECT_NEAR(learning_rate_at(t, 20, 120), 1.0, kTol);
  EXPECT_NEAR(learning_rate_at(t, 70, 120), 0.125 + 0.875 * 0.5, kTol);  // 50 of the 100 decay steps
  EXPECT_NEAR(learning_rate_at(t, 120, 120), 0.125, kTol);
}

TEST(LrSchedule, CosineNeverGoesAboveLrWhenLrMinIsLarger) {
  TrainConfig t = schedule("cosine", 0);
  t.lr_min = 2.0f;
  for (int64_t step : {1, 50, 100}) EXPECT_NEAR(learning_rate_at(t, step, 100), 1.0, kTol) << step;
}

}  // namespace
}  // namespace elbo
