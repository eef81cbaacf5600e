// Per-group KL weights of hierarchical models (issue 10): NVAE's KL balancing and free bits
// per group (kernels/math.h, kl_group_weights_of), and that the hvae applies each group's
// weight to that group's KL term alone (the gradient is linear in the weights).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/kernels/math.h"
#include "elbo/models/vae_model.h"
#include "support/gradient_check.h"

namespace elbo {
namespace {

std::vector<float> weights_for(const std::vector<float>& sums, const std::vector<float>& dims, float kl_weight,
                               float balance, float free_bits, float inv_count) {
  KlGroupRule rule;
  rule.inv_count = inv_count;
  rule.free_bits = free_bits;
  rule.kl_weight = &kl_weight;
  rule.balance = &balance;
  std::vector<float> w(sums.size());
  kl_group_weights_of(w.data(), sums.data(), dims.data(), int(sums.size()), rule);
  return w;
}

TEST(KlGroupWeights, PlainGatedAndBalanced) {
  const std::vector<float> sums = {40.0f, 2.0f, 10.0f}, dims = {10.0f, 20.0f, 5.0f};
  // Neither: every group takes the step's KL weight.
  EXPECT_EQ(weights_for(sums, dims, 0.3f, 0.0f, 0.0f, 0.5f), (std::vector<float>{0.3f, 0.3f, 0.3f}));
  // Free bits per group: means 20, 1, 5 nats against a floor of 3: the second is gated.
  EXPECT_EQ(weights_for(sums, dims, 0.3f, 0.0f, 3.0f, 0.5f), (std::vector<float>{0.3f, 0.0f, 0.3f}));
  // Balancing: a_l = (mean_l + 0.01) / dims_l, c_l = a_l / mean(a).
  const double a[3] = {20.01 / 10, 1.01 / 20, 5.01 / 5};
  const double mean = (a[0] + a[1] + a[2]) / 3;
  const std::vector<float> w = weights_for(sums, dims, 0.5f, 1.0f, 0.0f, 0.5f);
  for (int l = 0; l < 3; ++l) EXPECT_NEAR(w[size_t(l)], 0.5 * a[l] / mean, 1e-6) << "group " << l;
  // The coefficients average to 1: balancing moves weight between groups, not in total.
  EXPECT_NEAR((w[0] + w[1] + w[2]) / 3, 0.5, 1e-6);
}

// With device weights w_l the hvae's gradient is grad(recon) + sum_l w_l grad(KL_l):
// measured by backward passes with one group's weight at a time.
TEST(KlGroupWeights, HvaeAppliesEachGroupsWeightToItsOwnKl) {
  auto be = make_cpu_backend();
  ModelConfig mc;
  mc.type = "hvae";
  mc.latents = {2, 3, 2};
  mc.group_hidden = {4, 5, 6};
  mc.group_depth = 1;
  mc.activation = "tanh";
  const int dim = 6, rows = 3;
  auto model = make_model(mc, dim, *be, 61);
  const std::vector<float> x = random_vector(size_t(rows) * dim, 62, 0, 1);
  ParamStore& ps = model->params();
  auto gradient = [&](std::vector<float> weights) {
    model->forward(*be, x.data(), rows, NoiseKey{5, 1, 0, 0});
    model->set_kl_group_weights(weights.data());
    be->fill(ps.grads(), ps.total(), 0.0f);
    model->backward(*be, x.data(), rows, 1.0f, Weight(1.0f), [](size_t) {});
    model->set_kl_group_weights(nullptr);
    return std::vector<float>(ps.grads(), ps.grads() + ps.total());
  };
  const std::vector<float> recon_only = gradient({0, 0, 0});
  std::vector<std::vector<float>> per_group;
  for (int l = 0; l < 3; ++l) {
    std::vector<float> w(3, 0.0f);
    w[size_t(l)] = 1.0f;
    per_group.push_back(gradient(w));
  }
  const std::vector<float> weights = {2.0f, 0.5f, 3.0f};
  const std::vector<float> combined = gradient(weights);
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < combined.size(); ++i) {
    double expect = recon_only[i];
    for (int l = 0; l < 3; ++l) expect += weights[size_t(l)] * (per_group[size_t(l)][i] - recon_only[i]);
    err = std::max(err, std::fabs(expect - combined[i]));
    scale = std::max(scale, std::fabs(expect));
  }
  EXPECT_LT(err, 1e-5 * std::max(1.0, scale));
  // And the weights matter: a group's term is not zero.
  double moved = 0.0;
  for (size_t i = 0; i < combined.size(); ++i) moved = std::max(moved, double(std::fabs(per_group[1][i] - recon_only[i])));
  EXPECT_GT(moved, 1e-4);
}

}  // namespace
}  // namespace elbo
