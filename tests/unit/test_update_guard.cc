// The optimiser's safeguards (issue 10): which steps the update guard applies, clips or
// skips; that a skipped step changes nothing (parameters, moments, weight average, loss
// sums); Adamax against its textbook update; the weight average; and a checkpoint that
// keeps the average and the skip counts.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "elbo/optim/adam.h"
#include "elbo/optim/update_guard.h"
#include "elbo/optim/weight_average.h"
#include "elbo/train/checkpoint.h"
#include "support/gradient_check.h"
#include "support/synthetic_data.h"

namespace elbo {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Decision {
  float scale, skip, nonfinite, over;
};
Decision decide(float sumsq, float health, UpdateRule rule, float counts_before = 0.0f) {
  float gate[UpdateGate::kSize] = {1.0f, 0.0f, counts_before, counts_before};
  decide_update(gate, sumsq, health, rule);
  return {gate[UpdateGate::kScale], gate[UpdateGate::kSkip], gate[UpdateGate::kSkippedNonfinite],
          gate[UpdateGate::kSkippedOverThreshold]};
}

TEST(UpdateGuard, DecisionRule) {
  UpdateRule rule;
  rule.clip_norm = 2.0f;
  rule.skip_norm = 10.0f;
  rule.skip_nonfinite = true;
  // Under the clip norm: applied unscaled.
  Decision d = decide(1.0f, 0.0f, rule);
  EXPECT_EQ(d.scale, 1.0f);
  EXPECT_EQ(d.skip, 0.0f);
  // Between clip and skip: clipped to norm 2 (norm 5).
  d = decide(25.0f, 0.0f, rule);
  EXPECT_NEAR(d.scale, 2.0f / 5.0f, 1e-6f);
  EXPECT_EQ(d.skip, 0.0f);
  // Over the threshold (norm 11): skipped and counted as such, once.
  d = decide(121.0f, 0.0f, rule, 3.0f);
  EXPECT_EQ(d.skip, 1.0f);
  EXPECT_EQ(d.scale, 0.0f);
  EXPECT_EQ(d.over, 4.0f);
  EXPECT_EQ(d.nonfinite, 3.0f);
  // NaN or infinite gradients, or a NaN health (some rank's input or loss): skipped as non-finite.
  for (auto [sumsq, health] : {std::pair{kNan, 0.0f}, std::pair{kInf, 0.0f}, std::pair{1.0f, kNan}}) {
    d = decide(sumsq, health, rule);
    EXPECT_EQ(d.skip, 1.0f) << sumsq << " " << health;
    EXPECT_EQ(d.nonfinite, 1.0f);
    EXPECT_EQ(d.over, 0.0f);
  }
  // train.nonfinite: stop does not skip (the trainer's finiteness check stops the run).
  rule.skip_nonfinite = false;
  d = decide(kNan, 0.0f, rule);
  EXPECT_EQ(d.skip, 0.0f);
  EXPECT_EQ(d.nonfinite, 0.0f);
  // No threshold: any finite norm is applied.
  rule.skip_norm = 0.0f;
  d = decide(1e30f, 0.0f, rule);
  EXPECT_EQ(d.skip, 0.0f);
}

// A skipped step leaves parameters and moments bit for bit as they were, and the guard's
// counts come back after a restore (resume).
TEST(UpdateGuard, SkippedStepChangesNothing) {
  auto be = make_cpu_backend(2);
  TrainConfig tc;
  tc.skip_threshold = 1.0f;
  const size_t n = 1000;
  std::vector<float> p = random_vector(n, 1), small = random_vector(n, 2), big = small;
  for (float& g : small) g *= 1e-3f;  // norm about 0.018
  Adam adam(*be, n, tc);
  UpdateGuard guard(*be, update_rule_of(tc), n);
  WeightAverage ema(*be, n, 0.9f);
  ema.start_from(p.data());
  guard.decide(small.data(), nullptr, false);
  adam.step(p.data(), small.data(), nullptr, guard.gate());
  ema.update(p.data(), guard.gate());
  const std::vector<float> p1 = p, m1(adam.m(), adam.m() + n), v1(adam.v(), adam.v() + n),
                           e1(ema.values(), ema.values() + n);
  guard.decide(big.data(), nullptr, false);  // norm about 18 > 1
  adam.step(p.data(), big.data(), nullptr, guard.gate());
  ema.update(p.data(), guard.gate());
  EXPECT_EQ(p, p1);
  EXPECT_EQ(std::vector<float>(adam.m(), adam.m() + n), m1);
  EXPECT_EQ(std::vector<float>(adam.v(), adam.v() + n), v1);
  EXPECT_EQ(std::vector<float>(ema.values(), ema.values() + n), e1);
  std::vector<float> nan_grads = small;
  nan_grads[17] = kNan;
  guard.decide(nan_grads.data(), nullptr, false);
  adam.step(p.data(), nan_grads.data(), nullptr, guard.gate());
  EXPECT_EQ(p, p1);
  float health = kNan;  // a healthy gradient but a rank whose input was bad
  guard.decide(small.data(), &health, false);
  adam.step(p.data(), small.data(), nullptr, guard.gate());
  EXPECT_EQ(p, p1);
  const UpdateGuard::Counts c = guard.counts();
  EXPECT_EQ(c.over_threshold, 1);
  EXPECT_EQ(c.nonfinite, 2);
  UpdateGuard restored(*be, update_rule_of(tc), n);
  restored.restore_counts(c);
  EXPECT_EQ(restored.counts().total(), 3);
  // The loss of a skipped step stays out of the sums.
  std::vector<float> acc = {1.0f, 2.0f}, step = {kNan, 5.0f};
  be->add_unless_skipped(acc.data(), step.data(), 2, guard.gate());
  EXPECT_EQ(acc, (std::vector<float>{1.0f, 2.0f}));
  guard.decide(small.data(), nullptr, false);  // applied
  step = {3.0f, 5.0f};
  be->add_unless_skipped(acc.data(), step.data(), 2, guard.gate());
  EXPECT_EQ(acc, (std::vector<float>{4.0f, 7.0f}));
}

// Adamax (Kingma & Ba 2015, section 7.1, as PyTorch arranges it) against double arithmetic.
TEST(UpdateGuard, AdamaxMatchesReference) {
  auto be = make_cpu_backend();
  TrainConfig tc;
  tc.optimizer = "adamax";
  tc.lr = 0.002f;
  tc.weight_decay = 0.01f;
  const size_t n = 9;
  std::vector<float> p = random_vector(n, 5);
  std::vector<double> rp(p.begin(), p.end()), m(n, 0.0), u(n, 0.0);
  Adam adam(*be, n, tc);
  for (int t = 1; t <= 5; ++t) {
    const std::vector<float> g = random_vector(n, 10 + t);
    for (size_t i = 0; i < n; ++i) {
      const double gi = g[i] + tc.weight_decay * rp[i];
      m[i] = 0.9 * m[i] + 0.1 * gi;
      u[i] = std::max(0.999 * u[i], std::fabs(gi) + double(tc.eps));
      rp[i] -= tc.lr / (1.0 - std::pow(0.9, t)) * m[i] / u[i];
    }
    adam.step(p.data(), g.data());
  }
  for (size_t i = 0; i < n; ++i) EXPECT_NEAR(p[i], rp[i], 1e-6) << "index " << i;
}

// The weight average follows e <- d e + (1 - d) p, and swap_with twice restores both.
TEST(UpdateGuard, WeightAverage) {
  auto be = make_cpu_backend();
  const size_t n = 5;
  std::vector<float> p = random_vector(n, 7);
  WeightAverage ema(*be, n, 0.75f);
  ASSERT_TRUE(ema.enabled());
  ema.start_from(p.data());
  std::vector<double> ref(p.begin(), p.end());
  for (int t = 0; t < 4; ++t) {
    p = random_vector(n, 20 + uint32_t(t));
    ema.update(p.data(), nullptr);
    for (size_t i = 0; i < n; ++i) ref[i] = 0.75 * ref[i] + 0.25 * p[i];
  }
  for (size_t i = 0; i < n; ++i) EXPECT_NEAR(ema.values()[i], ref[i], 1e-6);
  const std::vector<float> before_p = p, before_e(ema.values(), ema.values() + n);
  ema.swap_with(p.data());
  EXPECT_EQ(p, before_e);
  ema.swap_with(p.data());
  EXPECT_EQ(p, before_p);
  EXPECT_FALSE(WeightAverage(*be, n, 0.0f).enabled());
}

// A checkpoint keeps the weight average and the skip counts; files without them (earlier
// builds, no average) read as none and 0.
TEST(UpdateGuard, CheckpointKeepsAverageAndCounts) {
  const std::string dir = make_temp_dir("elbo_guard_ckpt");  // its own: runs never share it
  CheckpointState st;
  st.params = {{"w", {2, 2}, {1, 2, 3, 4}}};
  st.adam_m = {{"w", {2, 2}, {0, 0, 0, 0}}};
  st.adam_v = {{"w", {2, 2}, {0, 0, 0, 0}}};
  st.ema = {{"w", {2, 2}, {0.5f, 1.5f, 2.5f, 3.5f}}};
  st.step = 7;
  st.skipped_nonfinite = 2;
  st.skipped_over_threshold = 5;
  save_checkpoint(dir, st, 3);
  CheckpointState back = load_checkpoint(checkpoint_path(dir, 7));
  ASSERT_EQ(back.ema.size(), 1u);
  EXPECT_EQ(back.ema[0].values, st.ema[0].values);
  EXPECT_EQ(back.skipped_nonfinite, 2);
  EXPECT_EQ(back.skipped_over_threshold, 5);
  st.ema.clear();
  st.step = 8;
  save_checkpoint(dir, st, 3);
  back = load_checkpoint(checkpoint_path(dir, 8));
  EXPECT_TRUE(back.ema.empty());
  // An average that does not mirror the parameters is refused when written.
  st.ema = {{"v", {2, 2}, {0, 0, 0, 0}}};
  st.step = 9;
  EXPECT_THROW(save_checkpoint(dir, st, 3), Error);
  st.ema = {{"w", {2, 2}, {0, kNan, 0, 0}}};
  EXPECT_THROW(save_checkpoint(dir, st, 3), Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace elbo
