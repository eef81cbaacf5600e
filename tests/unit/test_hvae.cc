// The hierarchical VAE (models/hvae.h) and the ops it adds: finite-difference checks of the
// ops on pairs of Gaussians (KL, precision-weighted merge, sampled log ratio) and of their
// graph nodes, of the whole negative ELBO and IWAE bound for 2 and 3 groups with either
// posterior, the agreement of the training passes with the evaluation's importance
// weights, the decoding programs, and the config keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/error.h"
#include "elbo/kernels/math.h"
#include "elbo/models/vae_model.h"
#include "elbo/nn/gaussian_kl.h"
#include "elbo/nn/gaussian_merge.h"
#include "elbo/nn/layers.h"
#include "support/gradient_check.h"
#include "support/model_check.h"

namespace elbo {
namespace {

// ---- the backend ops ----

// loss = sum_r c_r KL(q_r || p_r), against both q and p (mu and logvar halves).
TEST(GaussianPairOps, KlGradientIntoBothDistributions) {
  auto be = make_cpu_backend();
  const int rows = 3, latent = 4;
  std::vector<float> q = random_vector(size_t(rows) * 2 * latent, 1, -1.5f, 1.5f);
  std::vector<float> p = random_vector(q.size(), 2, -1.5f, 1.5f);
  const std::vector<float> c = {0.5f, -1.25f, 2.0f};
  std::vector<float> kl(rows);
  auto loss = [&] {
    be->distributions().kl_gaussians_forward(kl.data(), q.data(), p.data(), rows, latent);
    double s = 0.0;
    for (int r = 0; r < rows; ++r) s += double(c[size_t(r)]) * kl[size_t(r)];
    return s;
  };
  loss();
  std::vector<float> dq(q.size(), 0.0f), dp(p.size(), 0.0f);
  be->distributions().kl_gaussians_backward(dq.data(), dp.data(), q.data(), p.data(), rows, latent,
                                            Weight::rows(c.data()));
  expect_gradient(q, dq, loss, "KL(q || p) with respect to q");
  expect_gradient(p, dp, loss, "KL(q || p) with respect to p");
}

// The closed form against cases known by hand: KL of a distribution from itself is 0,
// and against N(0, 1) it is kl_std_normal.
TEST(GaussianPairOps, KlMatchesKnownValues) {
  EXPECT_NEAR(kl_gaussians(0.3f, -0.7f, 0.3f, -0.7f), 0.0f, 1e-7f);
  EXPECT_NEAR(kl_gaussians(1.2f, 0.4f, 0.0f, 0.0f), kl_std_normal(1.2f, 0.4f), 1e-6f);
  // Equal means, variances 1 and e: (1 - 0 + e^-1 - 1) / 2.
  EXPECT_NEAR(kl_gaussians(0.0f, 0.0f, 0.0f, 1.0f), 0.5f * (1.0f + std::exp(-1.0f) - 1.0f), 1e-6f);
}

// The merge's value (precisions add, precision-weighted means) and its gradient:
// loss = sum out * r for fixed random r.
TEST(GaussianPairOps, PrecisionWeightedMerge) {
  const GaussianParams m = gaussian_merge(1.0f, std::log(2.0f), -2.0f, std::log(0.5f));
  // Precisions 1/2 and 2: merged precision 5/2, mean (1 * 1/2 - 2 * 2) / (5/2) = -1.4.
  EXPECT_NEAR(m.logvar, std::log(0.4f), 1e-6f);
  EXPECT_NEAR(m.mu, -1.4f, 1e-6f);
  auto be = make_cpu_backend();
  const int rows = 2, latent = 3;
  std::vector<float> a = random_vector(size_t(rows) * 2 * latent, 3, -2, 2), b = random_vector(a.size(), 4, -2, 2);
  const std::vector<float> r = random_vector(a.size(), 5);
  std::vector<float> out(a.size());
  auto loss = [&] {
    be->distributions().gaussian_merge_forward(out.data(), a.data(), b.data(), rows, latent);
    double s = 0.0;
    for (size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
    return s;
  };
  loss();
  std::vector<float> da(a.size(), 0.0f), db(b.size(), 0.0f);
  be->distributions().gaussian_merge_backward(da.data(), db.data(), r.data(), a.data(), b.data(), rows, latent);
  expect_gradient(a, da, loss, "merge with respect to the bottom-up estimate");
  expect_gradient(b, db, loss, "merge with respect to the prior");
}

// log p(z) - log q(z) with z, eps, q and p as independent inputs: q enters only through
// its logvar (log q(z) = log N(eps; 0, 1) - logvar / 2), z and p through log p(z).
TEST(GaussianPairOps, LogRatioGradients) {
  auto be = make_cpu_backend();
  const int rows = 2, latent = 3;
  std::vector<float> z = random_vector(size_t(rows) * latent, 6, -2, 2), eps = random_vector(z.size(), 7);
  std::vector<float> q = random_vector(size_t(rows) * 2 * latent, 8), p = random_vector(q.size(), 9);
  const std::vector<float> c = {1.5f, -0.5f};
  std::vector<float> logw(rows);
  auto loss = [&] {
    std::fill(logw.begin(), logw.end(), 0.0f);
    be->distributions().gaussian_log_ratio_forward(logw.data(), z.data(), eps.data(), q.data(), p.data(), rows, latent);
    return double(c[0]) * logw[0] + double(c[1]) * logw[1];
  };
  loss();
  // Its value: log N(z; p) - log N(z; q) where z = mu_q + sigma_q eps.
  for (int r = 0; r < rows; ++r) {
    double expect = 0.0;
    for (int j = 0; j < latent; ++j) {
      const size_t o = size_t(r) * 2 * latent;
      const float zq = reparameterize(q[o + j], q[o + latent + j], eps[size_t(r) * latent + j]);
      const float zz = z[size_t(r) * latent + j];
      expect += gaussian_log_density(zz, p[o + j], p[o + latent + j]) -
                gaussian_log_density(zq, q[o + j], q[o + latent + j]);
    }
    EXPECT_NEAR(logw[size_t(r)], expect, 1e-4) << "row " << r;
  }
  std::vector<float> dz(z.size(), 0.0f), dq(q.size(), 0.0f), dp(p.size(), 0.0f);
  be->distributions().gaussian_log_ratio_backward(dz.data(), dq.data(), dp.data(), z.data(), p.data(), rows, latent,
                                                  Weight::rows(c.data()));
  expect_gradient(z, dz, loss, "log ratio with respect to z");
  expect_gradient(q, dq, loss, "log ratio with respect to q (eps fixed)");
  expect_gradient(p, dp, loss, "log ratio with respect to p");
}

// The bound on a predicted log-variance: C tanh(lv / C), then sigma + f. Its limits, its
// identity when off, and its gradient (the means pass through unchanged).
TEST(GaussianPairOps, LogVarianceBound) {
  const float c = 10.0f, f = 0.01f;
  EXPECT_EQ(bounded_logvar(3.0f, 0.0f, 0.0f), 3.0f) << "both parts off: the identity";
  EXPECT_NEAR(bounded_logvar(1e6f, c, 0.0f), c, 1e-5f);
  EXPECT_NEAR(bounded_logvar(-1e6f, c, 0.0f), -c, 1e-5f);
  // A variance far under the floor's: sigma = f, logvar = 2 log f; far above: unchanged.
  EXPECT_NEAR(bounded_logvar(-1e6f, 0.0f, f), 2.0f * std::log(f), 1e-5f);
  EXPECT_NEAR(bounded_logvar(-1e6f, c, f), 2.0f * std::log(std::exp(-c / 2) + f), 1e-5f);
  EXPECT_NEAR(bounded_logvar(4.0f, 0.0f, f), 2.0f * std::log(std::exp(2.0f) + f), 1e-5f);
  EXPECT_TRUE(std::isfinite(bounded_logvar(1e30f, 0.0f, f))) << "no overflow in the floor's softplus";
  auto be = make_cpu_backend();
  const int rows = 3, latent = 4;
  for (const float clamp : {0.0f, 1.5f, 10.0f})
    for (const float floor : {0.0f, 0.3f}) {
      std::vector<float> stats = random_vector(size_t(rows) * 2 * latent, 30, -4, 4);
      const std::vector<float> r = random_vector(stats.size(), 31);
      std::vector<float> out(stats.size());
      auto loss = [&] {
        be->distributions().bound_logvar_forward(out.data(), stats.data(), rows, latent, clamp, floor);
        double s = 0.0;
        for (size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
        return s;
      };
      loss();
      for (int row = 0; row < rows; ++row)
        for (int j = 0; j < latent; ++j) EXPECT_EQ(out[size_t(row) * 2 * latent + j], stats[size_t(row) * 2 * latent + j]);
      std::vector<float> d(stats.size(), 0.0f);
      be->distributions().bound_logvar_backward(d.data(), r.data(), stats.data(), rows, latent, clamp, floor);
      expect_gradient(stats, d, loss, "log-variance bound");
    }
}

// ---- the graph nodes ----

// q and p learned tensors, each read by two nodes (so their gradients accumulate):
// loss = sum KL(q || p) + 0.5 sum KL(merge(q, p) || N(0, I)) + 0.25 sum KL(p || q).
TEST(GaussianPairNodes, KlAndMergeAccumulateIntoSharedInputs) {
  auto be = make_cpu_backend();
  const int rows = 3, latent = 2;
  ParamStore store;
  const int qs = store.add("q", {rows, 2 * latent}, 1), ps = store.add("p", {rows, 2 * latent}, 1);
  store.allocate(*be, 3);
  Graph g(*be, store);
  Var q = parameter(g, qs, Shape::rows(rows, 2 * latent)), p = parameter(g, ps, Shape::rows(rows, 2 * latent));
  Var kl_qp = kl_gaussians(g, q, p);
  Var kl_merged = kl_std_normal(g, gaussian_merge(g, q, p));
  Var kl_pq = kl_gaussians(g, p, q);
  g.plan(true);
  auto loss = [&] {
    g.forward();
    return sum_of(g.value(kl_qp), rows) + 0.5 * sum_of(g.value(kl_merged), rows) +
           0.25 * sum_of(g.value(kl_pq), rows);
  };
  loss();
  be->fill(store.grads(), store.total(), 0.0f);
  g.backward({{kl_qp, Weight(1.0f)}, {kl_merged, Weight(0.5f)}, {kl_pq, Weight(0.25f)}});
  std::vector<float> params(store.params(), store.params() + store.total());
  std::vector<float> grads(store.grads(), store.grads() + store.total());
  auto param_loss = [&] {
    std::copy(params.begin(), params.end(), store.params());
    return loss();
  };
  expect_gradient(params, grads, param_loss, "kl_gaussians and gaussian_merge nodes");
}

// ---- the whole model ----

ModelConfig small_hvae(std::vector<int> latents, const char* posterior, const char* likelihood = "bernoulli") {
  ModelConfig mc;
  mc.type = "hvae";
  mc.latents = latents;
  mc.group_hidden.clear();
  for (size_t l = 0; l < latents.size(); ++l) mc.group_hidden.push_back(4 + int(l));
  mc.group_depth = 1;
  mc.posterior = posterior;
  mc.activation = "tanh";
  mc.likelihood = likelihood;
  return mc;
}

struct HvaeCase {
  std::vector<int> latents;
  const char* posterior;
  const char* likelihood;
};

class HvaeGradCheck : public ::testing::TestWithParam<HvaeCase> {};

TEST_P(HvaeGradCheck, WholeNegativeElbo) {
  const HvaeCase& c = GetParam();
  auto be = make_cpu_backend();
  const int dim = 6, rows = 3;
  auto model = make_model(small_hvae(c.latents, c.posterior, c.likelihood), dim, *be, 41);
  ASSERT_EQ(model->kl_groups(), int(c.latents.size()));
  ASSERT_EQ(model->latent_dim(), c.latents[0]);
  expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 42, 0, 1), rows,
                              std::string("hvae elbo, ") + c.posterior);
}

TEST_P(HvaeGradCheck, WholeIwaeBound) {
  const HvaeCase& c = GetParam();
  auto be = make_cpu_backend();
  const int dim = 5, rows = 2;
  auto model = make_model(small_hvae(c.latents, c.posterior, c.likelihood), dim, *be, 43);
  model->set_objective(Objective::iwae_bound(3));
  expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 44, 0, 1), rows,
                              std::string("hvae iwae, ") + c.posterior);
}

// The IWAE warm-up: beta = 0.4 weighs every group's log p - log q in the trained log-weights.
TEST_P(HvaeGradCheck, WholeIwaeBoundWithWarmUp) {
  const HvaeCase& c = GetParam();
  auto be = make_cpu_backend();
  const int dim = 5, rows = 2;
  auto model = make_model(small_hvae(c.latents, c.posterior, c.likelihood), dim, *be, 49);
  Objective o = Objective::iwae_bound(3);
  o.kl_warmup_steps = 50;
  model->set_objective(o);
  float beta = 0.4f;
  model->set_log_ratio_weight(&beta);
  expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 50, 0, 1), rows,
                              std::string("hvae iwae warm-up, ") + c.posterior);
}

// With a tight bound (a clamp at 0.7, a floor of 0.3) the bound's curvature is everywhere
// in the model: the whole ELBO's gradient, both posterior forms.
TEST(HvaeVarianceBound, WholeNegativeElboWithATightBound) {
  for (const char* posterior : {"merge", "residual"}) {
    auto be = make_cpu_backend();
    const int dim = 6, rows = 3;
    ModelConfig mc = small_hvae({2, 3, 2}, posterior);
    mc.logvar_clamp = 0.7f;
    mc.sigma_floor = 0.3f;
    auto model = make_model(mc, dim, *be, 45);
    expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 46, 0, 1), rows,
                                std::string("hvae elbo, tight variance bound, ") + posterior);
  }
}

// The defect the bound prevents: towers whose outputs run away (every weight x 3000, as a
// too-high learning rate leaves them) predict log-variances of thousands, so a prior's
// variance is exp(-thousands) = 0 and the KL against it infinite, which turns every later
// step into a NaN. With the default bound the same parameters give a finite loss.
TEST(HvaeVarianceBound, KeepsTheKlFiniteWhereTheTowersRunAway) {
  for (const char* posterior : {"merge", "residual"}) {
    for (const bool bounded : {false, true}) {
      auto be = make_cpu_backend();
      const int dim = 6, rows = 4;
      ModelConfig mc = small_hvae({2, 3}, posterior);
      if (!bounded) mc.logvar_clamp = mc.sigma_floor = 0.0f;
      auto model = make_model(mc, dim, *be, 47);
      ParamStore& ps = model->params();
      for (size_t i = 0; i < ps.total(); ++i) ps.params()[i] *= 3000.0f;
      const std::vector<float> x = random_vector(size_t(rows) * dim, 48, 0, 1);
      model->forward(*be, x.data(), rows, NoiseKey{9, 1, 0, 0});
      bool finite = true;
      for (int r = 0; r < rows; ++r) finite = finite && std::isfinite(model->kl_per_row()[r]);
      EXPECT_EQ(finite, bounded) << posterior << (bounded ? ": the bound keeps the KL finite"
                                                          : ": without the bound the KL overflows");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Hierarchies, HvaeGradCheck,
                         ::testing::Values(HvaeCase{{2, 3}, "merge", "bernoulli"},
                                           HvaeCase{{2, 3}, "residual", "bernoulli"},
                                           HvaeCase{{2, 3, 2}, "merge", "bernoulli"},
                                           HvaeCase{{2, 3, 2}, "residual", "gaussian"},
                                           HvaeCase{{3}, "merge", "bernoulli"}),
                         [](const ::testing::TestParamInfo<HvaeCase>& info) {
                           return std::string(info.param.posterior) + "_" +
                                  std::to_string(info.param.latents.size()) + "groups_" + info.param.likelihood;
                         });

// The iwae training pass and the evaluation's importance weights draw the same samples
// with the same key (every group of a sample, through the whole hierarchy), so the bound
// is the log-mean-exp of those weights, and mean_t log w = -(recon + kl) of its logged terms.
TEST(Hvae, TrainingBoundMatchesEvaluationWeights) {
  for (const char* posterior : {"merge", "residual"}) {
    auto be = make_cpu_backend();
    const int dim = 6, rows = 3, k = 4;
    auto model = make_model(small_hvae({2, 3, 2}, posterior), dim, *be, 51);
    model->set_objective(Objective::iwae_bound(k));
    const std::vector<float> x = random_vector(size_t(rows) * dim, 52, 0, 1);
    const NoiseKey key{3, 1, 10, 0};
    model->forward(*be, x.data(), rows, key);
    const std::vector<float> lmw(model->log_mean_weight_per_row(), model->log_mean_weight_per_row() + rows);
    const std::vector<float> recon(model->recon_per_row(), model->recon_per_row() + rows);
    const std::vector<float> kl(model->kl_per_row(), model->kl_per_row() + rows);
    EXPECT_EQ(model->kl_group_per_row(0), nullptr) << "the iwae pass estimates only the total KL";
    std::vector<float> logw(size_t(rows) * k), expect(rows);
    model->log_importance_weights(*be, logw.data(), x.data(), rows, k, key);
    be->distributions().log_mean_exp_rows(expect.data(), logw.data(), rows, k);
    for (int i = 0; i < rows; ++i) {
      EXPECT_FLOAT_EQ(lmw[size_t(i)], expect[size_t(i)]) << posterior << ", image " << i;
      double mean_logw = 0.0;
      for (int t = 0; t < k; ++t) mean_logw += logw[size_t(i) * k + t] / k;
      EXPECT_NEAR(-(recon[size_t(i)] + kl[size_t(i)]), mean_logw, 1e-4) << posterior << ", image " << i;
    }
  }
}

// The ELBO pass (analytic KL per group, the lower groups' at the sampled z above) and the
// importance weights (log p - log q of the samples) estimate the same ELBO: over many
// samples of one image their means agree within the sampling error. A sign or a factor
// wrong in either KL or log ratio of any group moves one of them by whole nats.
TEST(Hvae, ElboPassAndImportanceWeightsEstimateTheSameBound) {
  for (const char* posterior : {"merge", "residual"}) {
    auto be = make_cpu_backend();
    const int dim = 5, n = 4000;
    auto model = make_model(small_hvae({2, 3}, posterior), dim, *be, 61);
    const std::vector<float> image = random_vector(size_t(dim), 62, 0, 1);
    std::vector<float> copies;
    for (int r = 0; r < n; ++r) copies.insert(copies.end(), image.begin(), image.end());
    model->forward(*be, copies.data(), n, NoiseKey{7, 1, 0, 0}, VaeModel::Pass::kElbo);
    std::vector<double> elbo(n);
    const float* recon = model->recon_per_row();
    const float* kl = model->kl_per_row();
    for (int r = 0; r < n; ++r) {
      elbo[size_t(r)] = -(double(recon[r]) + kl[r]);
      // The total is the sum of the groups' KLs, each one non-negative.
      double groups = 0.0;
      for (int l = 0; l < model->kl_groups(); ++l) {
        EXPECT_GE(model->kl_group_per_row(l)[r], -1e-6f);
        groups += model->kl_group_per_row(l)[r];
      }
      ASSERT_NEAR(groups, kl[r], 1e-5) << "row " << r;
    }
    std::vector<float> logw(n);
    model->log_importance_weights(*be, logw.data(), image.data(), 1, n, NoiseKey{8, 1, 0, 0});
    auto mean_and_error = [&](auto value) {
      double s = 0.0, s2 = 0.0;
      for (int r = 0; r < n; ++r) {
        s += value(r);
        s2 += value(r) * value(r);
      }
      const double mean = s / n;
      return std::make_pair(mean, std::sqrt(std::max(0.0, s2 / n - mean * mean) / n));
    };
    const auto a = mean_and_error([&](int r) { return elbo[size_t(r)]; });
    const auto b = mean_and_error([&](int r) { return double(logw[size_t(r)]); });
    EXPECT_NEAR(a.first, b.first, 5.0 * std::hypot(a.second, b.second) + 1e-3)
        << posterior << ": ELBO pass " << a.first << " +- " << a.second << ", importance weights " << b.first
        << " +- " << b.second;
  }
}

// Reconstruction decodes at the posterior means, so it is deterministic and in [0, 1];
// posterior_mean is the top group's mean half of posterior_stats(); decode_mean draws the
// lower groups (different draws on successive calls, the same for a model of the same seed).
TEST(Hvae, DecodingPrograms) {
  auto be = make_cpu_backend();
  const int dim = 6, rows = 3;
  const ModelConfig mc = small_hvae({2, 3}, "merge");
  auto model = make_model(mc, dim, *be, 71);
  auto twin = make_model(mc, dim, *be, 71);
  const std::vector<float> x = random_vector(size_t(rows) * dim, 72, 0, 1);
  std::vector<float> rec(size_t(rows) * dim), rec2(rec.size());
  model->reconstruct(*be, rec.data(), x.data(), rows);
  model->reconstruct(*be, rec2.data(), x.data(), rows);
  EXPECT_EQ(rec, rec2);
  for (float v : rec) EXPECT_TRUE(v >= 0.0f && v <= 1.0f);
  std::vector<float> mu(size_t(rows) * 2);
  model->posterior_mean(*be, mu.data(), x.data(), rows);
  model->forward(*be, x.data(), rows, NoiseKey{1, 1, 0, 0}, VaeModel::Pass::kElbo);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < 2; ++j) EXPECT_EQ(mu[size_t(r) * 2 + j], model->posterior_stats()[r * 4 + j]);
  const std::vector<float> z = random_vector(size_t(rows) * 2, 73);
  std::vector<float> first(size_t(rows) * dim), second(first.size()), twin_first(first.size());
  model->decode_mean(*be, first.data(), z.data(), rows);
  model->decode_mean(*be, second.data(), z.data(), rows);
  twin->decode_mean(*be, twin_first.data(), z.data(), rows);
  EXPECT_NE(first, second) << "the lower groups are drawn afresh";
  EXPECT_EQ(first, twin_first);
}

// ---- config ----

TEST(HvaeConfig, KeysParseAndTheModelSectionListsOnlyHvaeKeys) {
  const Config c = parse_config(
      "data: {train: x}\n"
      "model: {type: hvae, latents: [50, 100], group_hidden: [100, 200], group_depth: 2, posterior: residual, "
      "activation: tanh}\n",
      "test");
  EXPECT_EQ(c.model.latents, (std::vector<int>{50, 100}));
  EXPECT_EQ(c.model.group_hidden, (std::vector<int>{100, 200}));
  EXPECT_EQ(c.model.posterior, "residual");
  // The checkpoint's model section names hvae's keys, not the single-latent models' ones.
  const std::string yaml = model_config_to_yaml(c.model);
  EXPECT_EQ(yaml.rfind("model:\n  type: hvae\n  latents: [50, 100]\n  group_hidden: [100, 200]\n  group_depth: 2\n"
                       "  posterior: residual\n  logvar_clamp: 10.0\n  sigma_floor: 0.01\n  activation: tanh\n"
                       "  likelihood: bernoulli\n",
                       0),
            0u)
      << yaml;
  for (const char* other : {"  latent:", "  hidden:", "  channels:", "  strides:"})
    EXPECT_EQ(yaml.find(other), std::string::npos) << other << " in " << yaml;
  EXPECT_EQ(model_config_to_yaml(ModelConfig{}).find("logvar_clamp"), std::string::npos)
      << "the bound is hvae's: mlp_vae checkpoints keep their model text";
}

TEST(HvaeConfig, OneWidthPerGroup) {
  try {
    parse_config("data: {train: x}\nmodel: {type: hvae, latents: [5, 10, 20], group_hidden: [64, 64]}\n", "test");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.group_hidden"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3 groups"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_config("data: {train: x}\nmodel: {type: hvae, posterior: ladder}\n", "test"), Error);
}

}  // namespace
}  // namespace elbo
