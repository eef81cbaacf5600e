// The training objectives (train/objective.h): finite-difference gradient checks of the
// ops the IWAE bound, free bits and beta-TCVAE add, of the whole IWAE objective (k > 1),
// of the free-bits ELBO and of beta-TCVAE on a model, the total correlation's value, the
// KL schedules, and the config rules between the keys.
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
#include "elbo/nn/distributions.h"
#include "elbo/nn/graph.h"
#include "elbo/nn/layers.h"
#include "elbo/train/objective.h"
#include "support/gradient_check.h"
#include "support/graph_check.h"
#include "support/model_check.h"

namespace elbo {
namespace {

// log_mean_exp_rows and its backward with a weight per row: loss = sum_r c_r * lme_r.
TEST(ObjectiveOps, LogMeanExpRowsBackwardWithRowWeights) {
  auto be = make_cpu_backend();
  const int rows = 3, k = 4;
  std::vector<float> in = random_vector(size_t(rows) * k, 1, -3, 2), out(rows);
  const std::vector<float> c = {0.5f, -1.5f, 2.0f};
  auto loss = [&] {
    be->distributions().log_mean_exp_rows(out.data(), in.data(), rows, k);
    double s = 0.0;
    for (int r = 0; r < rows; ++r) s += double(c[size_t(r)]) * out[size_t(r)];
    return s;
  };
  loss();
  std::vector<float> grad(in.size());
  be->distributions().log_mean_exp_rows_backward(grad.data(), in.data(), out.data(), rows, k, Weight::rows(c.data()));
  expect_gradient(in, grad, loss, "log_mean_exp_rows");
  // The normalised weights of each row sum to its row weight.
  for (int r = 0; r < rows; ++r) {
    double s = 0.0;
    for (int t = 0; t < k; ++t) s += grad[size_t(r) * k + t];
    EXPECT_NEAR(s, c[size_t(r)], 1e-6);
  }
}

// log p(z) - log q(z|x) with z = mu + sigma * eps: the gradient into (mu | logvar) through
// z (reparameterize_backward) and directly (the posterior's -log sigma), per-row weighted.
TEST(ObjectiveOps, PriorMinusPosteriorBackward) {
  auto be = make_cpu_backend();
  const int rows = 2, latent = 3;
  std::vector<float> stats = random_vector(size_t(rows) * 2 * latent, 3, -1, 1);
  std::vector<float> z(size_t(rows) * latent), eps(z.size()), logw(rows);
  const std::vector<float> c = {0.75f, -1.25f};
  const NoiseKey key{9, 1, 0, 0};
  auto loss = [&] {
    be->distributions().reparameterize(z.data(), eps.data(), stats.data(), rows, latent, key);
    std::fill(logw.begin(), logw.end(), 0.0f);
    be->distributions().prior_minus_posterior_log_density(logw.data(), z.data(), eps.data(), stats.data(), rows,
                                                          latent);
    return double(c[0]) * logw[0] + double(c[1]) * logw[1];
  };
  loss();
  std::vector<float> dz(z.size(), 0.0f), dstats(stats.size(), 0.0f);
  be->distributions().prior_minus_posterior_backward(dz.data(), dstats.data(), z.data(), rows, latent,
                                                     Weight::rows(c.data()));
  be->distributions().reparameterize_backward(dstats.data(), dz.data(), eps.data(), stats.data(), rows, latent);
  expect_gradient(stats, dstats, loss, "prior_minus_posterior_log_density");
}

// Likelihood and KL backward ops with a weight per row (and the KL's per-dimension gates).
TEST(ObjectiveOps, RowWeightedLikelihoodAndGatedKlBackward) {
  auto be = make_cpu_backend();
  const int rows = 3, dim = 4, latent = 2;
  const std::vector<float> c = {1.0f, -0.5f, 2.5f}, gates = {1.0f, 0.0f};
  std::vector<float> x = random_vector(size_t(rows) * dim, 4, 0, 1), nll(rows);
  for (bool gaussian : {false, true}) {
    std::vector<float> out = random_vector(size_t(rows) * dim * (gaussian ? 2 : 1), 5, -1, 1);
    auto loss = [&] {
      if (gaussian)
        be->distributions().gaussian_nll_forward(nll.data(), out.data(), x.data(), rows, dim);
      else
        be->distributions().bernoulli_nll_forward(nll.data(), out.data(), x.data(), rows, dim);
      double s = 0.0;
      for (int r = 0; r < rows; ++r) s += double(c[size_t(r)]) * nll[size_t(r)];
      return s;
    };
    loss();
    std::vector<float> grad(out.size());
    if (gaussian)
      be->distributions().gaussian_nll_backward(grad.data(), out.data(), x.data(), rows, dim, Weight::rows(c.data()));
    else
      be->distributions().bernoulli_nll_backward(grad.data(), out.data(), x.data(), rows, dim, Weight::rows(c.data()));
    expect_gradient(out, grad, loss, gaussian ? "gaussian nll, row weights" : "bernoulli nll, row weights");
  }
  // KL with gates: dimension 1 is switched off, so the loss sums dimension 0 only.
  std::vector<float> stats = random_vector(size_t(rows) * 2 * latent, 6, -1, 1);
  auto kl_loss = [&] {
    double s = 0.0;
    for (int r = 0; r < rows; ++r) {
      const float* mu = stats.data() + size_t(r) * 2 * latent;
      s += double(c[size_t(r)]) * kl_std_normal(mu[0], mu[latent]);
    }
    return s;
  };
  std::vector<float> grad(stats.size(), 0.0f);
  be->distributions().kl_backward(grad.data(), stats.data(), rows, latent, Weight::rows(c.data()), gates.data());
  expect_gradient(stats, grad, kl_loss, "kl backward, row weights and gates");
  // kl_dim_sums: the per-dimension KL adds up to the per-row KL.
  std::vector<float> sums(latent), per_row(rows);
  be->distributions().kl_dim_sums(sums.data(), stats.data(), rows, latent);
  be->distributions().kl_forward(per_row.data(), stats.data(), rows, latent);
  EXPECT_NEAR(double(sums[0]) + sums[1], sum_of(per_row.data(), rows), 1e-5);
  std::vector<float> gate(latent);
  be->distributions().free_bits_gates(gate.data(), sums.data(), latent, 1.0f / rows,
                                      (sums[0] + sums[1]) / (2.0f * rows));
  EXPECT_EQ(gate[0] + gate[1], 1.0f) << "a floor between the two dimensions' means opens exactly one gate";
}

// The VampPrior's ops: every sample's log-density under every component, with gradients
// into the samples and the components' (mu | logvar); the sample's own log q(z|x).
TEST(ObjectiveOps, GaussianLogDensityPairsAndPosteriorLogDensity) {
  auto be = make_cpu_backend(2);
  const int n = 4, m = 3, latent = 2;
  std::vector<float> leaves = random_vector(size_t(n) * latent + size_t(m) * 2 * latent, 13, -1, 1);
  const std::vector<float> c = random_vector(size_t(n) * m, 14, -1, 1);
  std::vector<float> out(size_t(n) * m);
  auto loss = [&] {
    be->distributions().gaussian_log_density_pairs(out.data(), leaves.data(), leaves.data() + n * latent, n, m, latent,
                                                   false);
    double s = 0.0;
    for (size_t i = 0; i < out.size(); ++i) s += double(c[i]) * out[i];
    return s;
  };
  loss();
  std::vector<float> grad(leaves.size(), 0.0f);
  be->distributions().gaussian_log_density_pairs_backward(
      grad.data(), grad.data() + n * latent, c.data(), leaves.data(), leaves.data() + n * latent, n, m, latent, false);
  expect_gradient(leaves, grad, loss, "gaussian_log_density_pairs");

  std::vector<float> stats = random_vector(size_t(n) * 2 * latent, 15, -1, 1), z(size_t(n) * latent),
                     eps(z.size()), logq(n);
  const NoiseKey key{4, 1, 0, 0};
  std::vector<float> std_normal_pairs(n);  // log N(z; mu, sigma) by the pairs op, for comparison
  auto logq_loss = [&] {
    be->distributions().reparameterize(z.data(), eps.data(), stats.data(), n, latent, key);
    be->distributions().posterior_log_density(logq.data(), eps.data(), stats.data(), n, latent);
    double s = 0.0;
    for (int r = 0; r < n; ++r) s += double(c[size_t(r)]) * logq[size_t(r)];
    return s;
  };
  logq_loss();
  for (int r = 0; r < n; ++r) {  // log q(z|x) is the density of z under its own component
    float own = 0.0f;
    be->distributions().gaussian_log_density_pairs(&own, z.data() + size_t(r) * latent,
                                                   stats.data() + size_t(r) * 2 * latent, 1, 1, latent, false);
    EXPECT_NEAR(own, logq[size_t(r)], 1e-4) << "row " << r;
  }
  std::vector<float> dz(z.size(), 0.0f), dstats(stats.size(), 0.0f);
  be->distributions().posterior_log_density_backward(dstats.data(), n, latent, Weight::rows(c.data()));
  be->distributions().reparameterize_backward(dstats.data(), dz.data(), eps.data(), stats.data(), n, latent);
  expect_gradient(stats, dstats, logq_loss, "posterior_log_density");
}

// The discretized logistic: its 256 bins hold all the mass (a distribution over 8-bit
// values), each bin's mass is the logistic CDF's difference computed in double, a scale
// held at the floor has no log-scale gradient, and the op's backward (with row weights)
// matches finite differences.
TEST(Likelihoods, DiscretizedLogisticIsADistributionOverEightBitValues) {
  for (const float mu : {-0.3f, 0.0f, 0.42f, 1.0f, 1.5f})
    for (const float log_scale : {-6.0f, -3.0f, -1.0f, 1.0f}) {
      double total = 0.0;
      for (int k = 0; k < 256; ++k) {
        const float x = float(k) / 255.0f;
        const double nll = dlogistic_nll(x, mu, log_scale).nll;
        total += std::exp(-nll);
        auto cdf = [&](double v) { return 1.0 / (1.0 + std::exp(-(v - mu) / std::exp(double(log_scale)))); };
        const double hi = k == 255 ? 1.0 : cdf(x + 0.5 / 255), lo = k == 0 ? 0.0 : cdf(x - 0.5 / 255);
        if (hi - lo > 1e-6) EXPECT_NEAR(nll, -std::log(hi - lo), 2e-3 * std::max(1.0, std::fabs(nll))) << k;
      }
      EXPECT_NEAR(total, 1.0, 1e-4) << "mu " << mu << ", log-scale " << log_scale;
    }
  // The gradients against the exact double formula, also where the bin is narrow against
  // the scale (log-scale 2 to 4: the interior gradients' large terms cancel analytically).
  for (const float log_scale : {-2.0f, 0.0f, 2.0f, 3.0f, 4.0f})
    for (const int k : {1, 40, 128, 254}) {
      const float x = float(k) / 255.0f, mu = 0.3f;
      auto nll64 = [&](double m, double ls) {
        auto cdf = [&](double v) { return 1.0 / (1.0 + std::exp(-(v - m) / std::exp(ls))); };
        return -std::log(cdf(x + 0.5 / 255) - cdf(x - 0.5 / 255));
      };
      const double h = 1e-5;
      const DlogisticNll t = dlogistic_nll(x, mu, log_scale);
      const double dmu = (nll64(mu + h, log_scale) - nll64(mu - h, log_scale)) / (2 * h);
      const double dls = (nll64(mu, log_scale + h) - nll64(mu, log_scale - h)) / (2 * h);
      EXPECT_NEAR(t.dmu, dmu, 1e-5 + 1e-4 * std::fabs(dmu)) << "x " << k << "/255, log-scale " << log_scale;
      EXPECT_NEAR(t.dlog_scale, dls, 1e-5 + 1e-4 * std::fabs(dls)) << "x " << k << "/255, log-scale " << log_scale;
    }
  EXPECT_EQ(dlogistic_nll(0.5f, 0.4f, -9.0f).dlog_scale, 0.0f) << "log-scale held at -7";
  EXPECT_EQ(dlogistic_nll(0.5f, 0.4f, -9.0f).nll, dlogistic_nll(0.5f, 0.4f, -7.0f).nll);

  auto be = make_cpu_backend();
  const int rows = 3, dim = 5;
  std::vector<float> out = random_vector(size_t(rows) * 2 * dim, 33, -0.2f, 1.2f);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < dim; ++j) out[size_t(r) * 2 * dim + dim + j] = -3.0f + 2.0f * out[size_t(r) * 2 * dim + dim + j];
  const std::vector<float> x = {0, 1, 17 / 255.f, 128 / 255.f, 254 / 255.f, 1 / 255.f, 0, 64 / 255.f,
                                200 / 255.f, 1, 99 / 255.f, 3 / 255.f, 250 / 255.f, 0, 1};
  const std::vector<float> c = {0.7f, -1.2f, 2.0f};
  std::vector<float> nll(rows);
  auto loss = [&] {
    be->distributions().dlogistic_nll_forward(nll.data(), out.data(), x.data(), rows, dim);
    double s = 0.0;
    for (int r = 0; r < rows; ++r) s += double(c[size_t(r)]) * nll[size_t(r)];
    return s;
  };
  loss();
  std::vector<float> grad(out.size());
  be->distributions().dlogistic_nll_backward(grad.data(), out.data(), x.data(), rows, dim, Weight::rows(c.data()));
  expect_gradient(out, grad, loss, "discretized logistic");
}

// beta-TCVAE's product of marginals: each dimension's log-density alone, laid out
// (i*L + j, k); the dimensions add up to the joint pairs, and the backward matches finite
// differences for both gradients.
TEST(ObjectiveOps, GaussianLogDensityPairsPerDimension) {
  auto be = make_cpu_backend(2);
  const int n = 3, m = 4, latent = 3;
  std::vector<float> leaves = random_vector(size_t(n) * latent + size_t(m) * 2 * latent, 16, -1, 1);
  const std::vector<float> c = random_vector(size_t(n) * latent * m, 17, -1, 1);
  std::vector<float> out(size_t(n) * latent * m), joint(size_t(n) * m);
  auto loss = [&] {
    be->distributions().gaussian_log_density_pairs(out.data(), leaves.data(), leaves.data() + n * latent, n, m, latent,
                                                   true);
    double s = 0.0;
    for (size_t i = 0; i < out.size(); ++i) s += double(c[i]) * out[i];
    return s;
  };
  loss();
  be->distributions().gaussian_log_density_pairs(joint.data(), leaves.data(), leaves.data() + n * latent, n, m, latent,
                                                 false);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < m; ++k) {
      double s = 0.0;
      for (int j = 0; j < latent; ++j) s += out[(size_t(i) * latent + j) * m + k];
      EXPECT_NEAR(s, joint[size_t(i) * m + k], 1e-5) << "sample " << i << ", component " << k;
    }
  std::vector<float> grad(leaves.size(), 0.0f);
  be->distributions().gaussian_log_density_pairs_backward(
      grad.data(), grad.data() + n * latent, c.data(), leaves.data(), leaves.data() + n * latent, n, m, latent, true);
  expect_gradient(leaves, grad, loss, "gaussian_log_density_pairs per dimension");
}

// The total correlation node, on blocks: its value is the minibatch estimate computed
// here in double from the same samples, and its gradient (through the samples
// into the statistics, and into every row's statistics of the block) matches finite
// differences.
TEST(BetaTc, TotalCorrelationIsTheMinibatchWeightedEstimate) {
  const int rows = 6, latent = 2, block = 3;
  GraphCheck check(18);
  NoiseKey noise{5, 1, 0, 0};
  check.run({Shape::rows(rows, 2 * latent)},
            [&](Graph& g, const std::vector<Var>& leaf) {
              const GaussianSample s = gaussian_sample(g, leaf[0], &noise);
              return std::vector<LossSeed>{{total_correlation(g, s, leaf[0], block), Weight(0.7f)}};
            },
            "total correlation", 1.0f);

  auto be = make_cpu_backend();
  ParamStore store;
  const int slice = store.add("stats", {int64_t(rows) * 2 * latent}, 1);
  store.allocate(*be, 3);
  const std::vector<float> stats = random_vector(store.total(), 19, -1, 1);
  std::copy(stats.begin(), stats.end(), store.params());
  Graph g(*be, store);
  Var st = parameter(g, slice, Shape::rows(rows, 2 * latent));
  const GaussianSample s = gaussian_sample(g, st, &noise);
  Var tc = total_correlation(g, s, st, block);
  g.plan(false);
  g.forward();
  const float* z = g.value(s.z);
  auto log_normal = [](double x, double mu, double logvar) {
    return -0.5 * (std::log(2.0 * M_PI) + logvar + (x - mu) * (x - mu) / std::exp(logvar));
  };
  auto log_sum_exp = [](const std::vector<double>& v) {
    const double top = *std::max_element(v.begin(), v.end());
    double s = 0.0;
    for (double x : v) s += std::exp(x - top);
    return top + std::log(s);
  };
  const double log_m = std::log(double(block));
  for (int i = 0; i < rows; ++i) {
    const int first = i / block * block;  // row i's block
    std::vector<double> joint;
    std::vector<std::vector<double>> marginal(latent);
    for (int r = first; r < first + block; ++r) {
      double sum = 0.0;
      for (int j = 0; j < latent; ++j) {
        const double term = log_normal(z[i * latent + j], stats[size_t(r) * 2 * latent + j],
                                       stats[size_t(r) * 2 * latent + latent + j]);
        sum += term;
        marginal[size_t(j)].push_back(term);
      }
      joint.push_back(sum);
    }
    double expect = log_sum_exp(joint) - log_m;
    for (int j = 0; j < latent; ++j) expect -= log_sum_exp(marginal[size_t(j)]) - log_m;
    EXPECT_NEAR(g.value(tc)[i], expect, 1e-4) << "row " << i;
  }
  // A collapsed posterior (every row's q(z|x) the same) factorises: no total correlation.
  for (int r = 1; r < rows; ++r)
    std::copy(stats.begin(), stats.begin() + 2 * latent, store.params() + size_t(r) * 2 * latent);
  g.forward();
  for (int i = 0; i < rows; ++i) EXPECT_NEAR(g.value(tc)[i], 0.0, 1e-5) << "row " << i << ", collapsed";
}

ModelConfig small_mlp(const char* likelihood) {
  ModelConfig mc;
  mc.hidden = {6};
  mc.latent = 3;
  mc.activation = "tanh";
  mc.likelihood = likelihood;
  return mc;
}

// The whole IWAE objective with k = 4 on an MLP VAE: -(1/B) sum_i log (1/k) sum_t w_it
// against every parameter, through the normalised importance weights.
TEST(IwaeObjective, WholeModelGradientWithSeveralSamples) {
  for (const char* likelihood : {"bernoulli", "gaussian"}) {
    auto be = make_cpu_backend();
    const int dim = 5, rows = 3, k = 4;
    auto model = make_model(small_mlp(likelihood), dim, *be, 41);
    model->set_objective(Objective::iwae_bound(k));
    expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 42, 0, 1), rows, likelihood,
                                NoiseKey{7, 1, 0, 0});
  }
}

// The training pass draws the same samples as the evaluation's importance weights with
// the same noise, so its bound is their log-mean-exp; its logged terms are the samples'
// mean -log p(x|z) and mean log q - log p; the bound is at least the ELBO estimate.
TEST(IwaeObjective, TrainingBoundMatchesEvaluationWeights) {
  auto be = make_cpu_backend();
  const int dim = 6, rows = 4, k = 5;
  auto model = make_model(small_mlp("bernoulli"), dim, *be, 51);
  model->set_objective(Objective::iwae_bound(k));
  const std::vector<float> x = random_vector(size_t(rows) * dim, 52, 0, 1);
  const NoiseKey key{3, 1, 10, 0};
  model->forward(*be, x.data(), rows, key);
  const std::vector<float> lmw(model->log_mean_weight_per_row(), model->log_mean_weight_per_row() + rows);
  const std::vector<float> recon(model->recon_per_row(), model->recon_per_row() + rows);
  const std::vector<float> kl(model->kl_per_row(), model->kl_per_row() + rows);
  std::vector<float> logw(size_t(rows) * k), expect(rows);
  model->log_importance_weights(*be, logw.data(), x.data(), rows, k, key);
  be->distributions().log_mean_exp_rows(expect.data(), logw.data(), rows, k);
  for (int i = 0; i < rows; ++i) {
    EXPECT_FLOAT_EQ(lmw[size_t(i)], expect[size_t(i)]) << "image " << i;
    double mean_logw = 0.0;
    for (int t = 0; t < k; ++t) mean_logw += logw[size_t(i) * k + t] / k;
    EXPECT_NEAR(-(recon[size_t(i)] + kl[size_t(i)]), mean_logw, 1e-4) << "image " << i;
    EXPECT_GE(lmw[size_t(i)], mean_logw - 1e-5) << "Jensen: the k-sample bound is above the ELBO estimate";
  }
}

// The IWAE warm-up (nn/importance_bound.h): with beta = 0.3 weighing log p(z) - log q(z|x)
// in the trained log-weights, the whole model's gradient of -(1/B) sum_i log (1/k) sum_t
// w_it(beta), for the N(0, I) prior and the VampPrior.
TEST(IwaeWarmUp, WholeModelGradientWithAWeightedLogRatio) {
  for (const bool vamp : {false, true}) {
    auto be = make_cpu_backend();
    const int dim = 5, rows = 3, k = 4;
    ModelConfig mc = small_mlp("bernoulli");
    if (vamp) {
      mc.prior = "vamp";
      mc.pseudo_inputs = 3;
    }
    auto model = make_model(mc, dim, *be, 61);
    Objective o = Objective::iwae_bound(k);
    o.kl_warmup_steps = 100;
    model->set_objective(o);
    float beta = 0.3f;
    model->set_log_ratio_weight(&beta);
    expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 62, 0, 1), rows,
                                vamp ? "iwae warm-up, vamp" : "iwae warm-up", NoiseKey{8, 1, 0, 0});
  }
}

// What the warm-up trains and what it logs: with k = 1 the trained term is the ELBO with
// the KL weighted by beta (its single-sample estimate), the logged bound the plain ELBO
// estimate; at beta = 1 the trained term is the bound, bit for bit.
TEST(IwaeWarmUp, TrainsTheWeightedBoundAndLogsTheBound) {
  for (const int k : {1, 3}) {
    auto be = make_cpu_backend();
    const int dim = 6, rows = 4;
    auto model = make_model(small_mlp("bernoulli"), dim, *be, 63);
    Objective o = Objective::iwae_bound(k);
    o.kl_warmup_steps = 10;
    model->set_objective(o);
    const std::vector<float> x = random_vector(size_t(rows) * dim, 64, 0, 1);
    const NoiseKey key{4, 1, 0, 0};
    float beta = 0.25f;
    model->set_log_ratio_weight(&beta);
    model->forward(*be, x.data(), rows, key);
    const std::vector<float> trained(model->trained_log_mean_weight_per_row(),
                                     model->trained_log_mean_weight_per_row() + rows);
    const std::vector<float> bound(model->log_mean_weight_per_row(), model->log_mean_weight_per_row() + rows);
    const std::vector<float> recon(model->recon_per_row(), model->recon_per_row() + rows);
    const std::vector<float> kl(model->kl_per_row(), model->kl_per_row() + rows);
    std::vector<float> logw(size_t(rows) * k), expect(rows);
    model->log_importance_weights(*be, logw.data(), x.data(), rows, k, key);
    be->distributions().log_mean_exp_rows(expect.data(), logw.data(), rows, k);
    for (int i = 0; i < rows; ++i) {
      EXPECT_FLOAT_EQ(bound[size_t(i)], expect[size_t(i)]) << "the logged bound is unweighted, image " << i;
      if (k == 1) {
        EXPECT_NEAR(trained[size_t(i)], -(recon[size_t(i)] + beta * kl[size_t(i)]), 1e-4) << "image " << i;
        EXPECT_NEAR(bound[size_t(i)], -(recon[size_t(i)] + kl[size_t(i)]), 1e-4) << "image " << i;
      }
      EXPECT_GT(std::fabs(trained[size_t(i)] - bound[size_t(i)]), 1e-3) << "beta < 1 must change the trained term";
    }
    beta = 1.0f;
    model->forward(*be, x.data(), rows, key);
    for (int i = 0; i < rows; ++i)
      EXPECT_EQ(model->trained_log_mean_weight_per_row()[i], model->log_mean_weight_per_row()[i]) << "image " << i;
  }
}

// Free bits: loss = (1/B) sum_r recon_r + sum_j max(lambda, (1/B) sum_r KL_rj), with the
// floor between the dimensions' KLs so that some gates are open and some closed; the
// gradient of the model with the gates from kl_dim_sums matches finite differences.
TEST(FreeBits, WholeModelGradientWithSomeDimensionsUnderTheFloor) {
  auto be = make_cpu_backend();
  const int dim = 5, rows = 4;
  ModelConfig mc = small_mlp("bernoulli");
  auto model = make_model(mc, dim, *be, 61);
  const std::vector<float> x = random_vector(size_t(rows) * dim, 62, 0, 1);
  const NoiseKey key{8, 1, 0, 0};
  const int latent = mc.latent;
  const float inv_b = 1.0f / rows;
  std::vector<float> sums(latent), gates(latent);
  model->forward(*be, x.data(), rows, key);
  be->distributions().kl_dim_sums(sums.data(), model->posterior_stats(), rows, latent);
  std::vector<float> means(sums);
  for (float& m : means) m *= inv_b;
  std::sort(means.begin(), means.end());
  const float floor_nats = 0.5f * (means[0] + means[1]);  // one dimension under the floor, two above
  ASSERT_GT(means[1] - means[0], 1e-3f) << "choose a seed whose dimensions' KLs differ";
  auto loss = [&] {
    model->forward(*be, x.data(), rows, key);
    be->distributions().kl_dim_sums(sums.data(), model->posterior_stats(), rows, latent);
    double s = inv_b * sum_of(model->recon_per_row(), rows);
    for (int j = 0; j < latent; ++j) s += std::max(double(floor_nats), double(sums[size_t(j)]) * inv_b);
    return s;
  };
  loss();
  be->distributions().free_bits_gates(gates.data(), sums.data(), latent, inv_b, floor_nats);
  EXPECT_EQ(std::count(gates.begin(), gates.end(), 0.0f), 1);
  model->set_kl_dim_gates(gates.data());
  ParamStore& ps = model->params();
  be->fill(ps.grads(), ps.total(), 0.0f);
  model->backward(*be, x.data(), rows, inv_b, Weight(inv_b), {});
  model->set_kl_dim_gates(nullptr);
  std::vector<float> params(ps.params(), ps.params() + ps.total());
  std::vector<float> grads(ps.grads(), ps.grads() + ps.total());
  auto param_loss = [&] {
    std::copy(params.begin(), params.end(), ps.params());
    return loss();
  };
  expect_gradient(params, grads, param_loss, "free bits");
}

ModelConfig vamp_mlp() {
  ModelConfig mc = small_mlp("bernoulli");
  mc.prior = "vamp";
  mc.pseudo_inputs = 3;
  return mc;
}

// The VampPrior model (Tomczak & Welling 2018): the pseudo-inputs run through the same
// encoder (a tensor read twice: gradients add up), p(z) is the mixture of their
// posteriors, and the KL is the single-sample estimate log q(z|x) - log p(z). Every
// parameter, pseudo-inputs included, for the ELBO and for the IWAE bound with k = 3.
TEST(VampPrior, WholeModelGradientForTheElboAndTheIwaeBound) {
  for (bool with_iwae : {false, true}) {
    auto be = make_cpu_backend();
    const int dim = 5, rows = 3;
    auto model = make_model(vamp_mlp(), dim, *be, 71);
    ParamStore& ps = model->params();
    ASSERT_EQ(ps.slice(0).name, "prior.pseudo_inputs");
    if (with_iwae) model->set_objective(Objective::iwae_bound(3));
    expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 72, 0, 1), rows,
                                with_iwae ? "vamp, iwae k = 3" : "vamp, elbo", NoiseKey{6, 1, 0, 0});
    const std::vector<float> grads(ps.grads(), ps.grads() + ps.slice(0).size);  // backward's, after the check
    EXPECT_NE(std::count(grads.begin(), grads.end(), 0.0f), ptrdiff_t(grads.size())) << "the pseudo-inputs learn";
  }
}

// Evaluation's importance weights use the same prior: the IWAE training bound with the
// same noise is their log-mean-exp, and log w = -(recon + kl) sample by sample (k = 1).
TEST(VampPrior, ImportanceWeightsUseTheMixturePrior) {
  auto be = make_cpu_backend();
  const int dim = 6, rows = 4, k = 5;
  auto model = make_model(vamp_mlp(), dim, *be, 81);
  const std::vector<float> x = random_vector(size_t(rows) * dim, 82, 0, 1);
  const NoiseKey key{2, 1, 0, 0};
  model->forward(*be, x.data(), rows, key, VaeModel::Pass::kElbo);
  std::vector<float> logw1(rows);
  model->log_importance_weights(*be, logw1.data(), x.data(), rows, 1, key);
  for (int i = 0; i < rows; ++i)
    EXPECT_NEAR(logw1[size_t(i)], -(model->recon_per_row()[i] + model->kl_per_row()[i]), 1e-4) << "image " << i;
  model->set_objective(Objective::iwae_bound(k));
  model->forward(*be, x.data(), rows, key);
  std::vector<float> logw(size_t(rows) * k), expect(rows);
  model->log_importance_weights(*be, logw.data(), x.data(), rows, k, key);
  be->distributions().log_mean_exp_rows(expect.data(), logw.data(), rows, k);
  for (int i = 0; i < rows; ++i) EXPECT_FLOAT_EQ(model->log_mean_weight_per_row()[i], expect[size_t(i)]);
}

// A model records its programs for the objective it was given; a later set_objective must
// not leave a program of the old one in use (it once did: the programs were keyed on
// purpose, rows and k alone, so a warm-up or a TC term set afterwards was ignored).
TEST(SetObjective, ProgramsRecordedForAnotherObjectiveAreDropped) {
  ModelConfig hvae;
  hvae.type = "hvae";
  hvae.latents = {2, 3};
  hvae.group_hidden = {4, 5};
  hvae.group_depth = 1;
  hvae.activation = "tanh";
  for (const ModelConfig& mc : {small_mlp("bernoulli"), hvae}) {
    auto be = make_cpu_backend();
    const int dim = 6, rows = 3;
    auto model = make_model(mc, dim, *be, 71);
    const std::vector<float> x = random_vector(size_t(rows) * dim, 72, 0, 1);
    const NoiseKey key{6, 1, 0, 0};
    model->set_objective(Objective::iwae_bound(3));
    model->forward(*be, x.data(), rows, key);
    Objective warm = Objective::iwae_bound(3);
    warm.kl_warmup_steps = 10;
    model->set_objective(warm);
    float beta = 0.25f;
    model->set_log_ratio_weight(&beta);
    model->forward(*be, x.data(), rows, key);
    ASSERT_NE(model->trained_log_mean_weight_per_row(), nullptr) << mc.type;
    for (int i = 0; i < rows; ++i)
      EXPECT_NE(model->trained_log_mean_weight_per_row()[i], model->log_mean_weight_per_row()[i])
          << mc.type << ": the warm-up set after a forward weighs the log-ratio, image " << i;
  }
  auto be = make_cpu_backend();
  const int dim = 6, rows = 4;
  auto model = make_model(small_mlp("bernoulli"), dim, *be, 73);
  const std::vector<float> x = random_vector(size_t(rows) * dim, 74, 0, 1);
  model->forward(*be, x.data(), rows, NoiseKey{7, 1, 0, 0});
  EXPECT_EQ(model->tc_per_row(), nullptr);
  TrainConfig t;
  t.tc_beta = 5.0f;
  model->set_objective(Objective::from_config(t));
  model->forward(*be, x.data(), rows, NoiseKey{7, 1, 0, 0});
  EXPECT_NE(model->tc_per_row(), nullptr) << "the TC term set after a forward is recorded";
}

// beta-TCVAE on an MLP VAE and a conv VAE: loss = (1/B) sum recon + w (sum KL + (beta_tc -
// 1) sum TC) with the estimate over blocks of 2 images, against every parameter.
TEST(BetaTc, WholeModelGradient) {
  for (const char* type : {"mlp_vae", "conv_vae"}) {
    auto be = make_cpu_backend();
    const int rows = 4;
    ModelConfig mc = small_mlp("bernoulli");
    mc.type = type;
    mc.channels = {2};
    mc.strides = {2};
    const Shape sample = Shape::images(1, 1, 4, 4);
    auto model = make_model(mc, sample, *be, 91);
    TrainConfig t;
    t.tc_beta = 5.0f;
    t.tc_batch = 2;
    Objective o = Objective::from_config(t);
    model->set_objective(o);
    expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * sample.row_size(), 92, 0, 1), rows,
                                std::string("beta-TC, ") + type, NoiseKey{5, 1, 0, 0}, t.tc_beta - 1.0f);
    ASSERT_NE(model->tc_per_row(), nullptr);
  }
}

// A small model of each type for 1 x 4 x 4 images (the conv and hvae keys set too).
ModelConfig small_model_of_type(const char* type, const char* likelihood) {
  ModelConfig mc = small_mlp(likelihood);
  mc.type = type;
  mc.channels = {2};
  mc.strides = {2};
  mc.latents = {2, 3};
  mc.group_hidden = {4, 5};
  mc.group_depth = 1;
  return mc;
}

// Whole models with the discretized logistic on 8-bit data: MLP, conv and hvae. (This test
// found the bin width computed as the difference of its two edges, which kept too few
// digits for a narrow bin: its finite differences were noise.)
TEST(Likelihoods, WholeModelGradientWithTheDiscretizedLogistic) {
  for (const char* type : {"mlp_vae", "conv_vae", "hvae"}) {
    auto be = make_cpu_backend();
    const int rows = 3;
    const Shape sample = Shape::images(1, 1, 4, 4);
    auto model = make_model(small_model_of_type(type, "discretized_logistic"), sample, *be, 93);
    std::vector<float> x = random_vector(size_t(rows) * sample.row_size(), 94, 0, 1);
    for (size_t i = 0; i < x.size(); ++i) x[i] = i % 9 == 0 ? 0.0f : i % 13 == 0 ? 1.0f : std::round(x[i] * 255) / 255;
    expect_whole_model_gradient(*be, *model, x, rows, std::string("discretized logistic, ") + type);
  }
}

// A Gaussian with a fixed sigma: the decoder outputs the means alone, and -log p(x|z) is
// the learned-sigma Gaussian's with the log-variance 2 log sigma; whole-model gradients.
TEST(Likelihoods, GaussianWithAFixedSigma) {
  for (const char* type : {"mlp_vae", "conv_vae", "hvae"}) {
    auto be = make_cpu_backend();
    const int rows = 3;
    ModelConfig mc = small_model_of_type(type, "gaussian");
    mc.gaussian_sigma = 0.3f;
    const Shape sample = Shape::images(1, 1, 4, 4);
    auto model = make_model(mc, sample, *be, 95);
    const std::vector<float> x = random_vector(size_t(rows) * sample.row_size(), 96, 0, 1);
    expect_whole_model_gradient(*be, *model, x, rows, std::string("gaussian, fixed sigma, ") + type);
    // The reconstruction is the decoder's mean: 16 values per image, not 32.
    std::vector<float> out(size_t(rows) * sample.row_size());
    model->reconstruct(*be, out.data(), x.data(), rows);
  }
  // The value: 0.5 (log 2 pi + 2 log sigma + (x - mean)^2 / sigma^2) per value.
  auto be = make_cpu_backend();
  ParamStore store;
  const int slice = store.add("mean", {4}, 1);
  store.allocate(*be, 1);
  const std::vector<float> mean = {0.1f, 0.5f, -0.2f, 0.9f}, xv = {0.0f, 0.4f, 0.1f, 1.0f};
  std::copy(mean.begin(), mean.end(), store.params());
  Graph g(*be, store);
  Var m = parameter(g, slice, Shape::rows(2, 2));
  Var x = g.input("x", Shape::rows(2, 2));
  Var nll = likelihood_nll(g, m, x, parse_likelihood("gaussian", 0.3f));
  g.plan(false);
  g.bind(x, xv.data());
  g.forward();
  for (int r = 0; r < 2; ++r) {
    double expect = 0.0;
    for (int j = 0; j < 2; ++j) {
      const double d = xv[size_t(r) * 2 + j] - mean[size_t(r) * 2 + j];
      expect += 0.5 * (std::log(2 * M_PI) + 2 * std::log(0.3) + d * d / 0.09);
    }
    EXPECT_NEAR(g.value(nll)[r], expect, 1e-4) << "row " << r;
  }
  EXPECT_THROW(parse_likelihood("bernoulli", 0.3f), Error);
  ModelConfig learned = small_mlp("gaussian");
  EXPECT_EQ(model_config_to_yaml(learned).find("gaussian_sigma"), std::string::npos)
      << "a learned sigma is written as nothing: older checkpoints match";
  learned.gaussian_sigma = 0.3f;
  EXPECT_NE(model_config_to_yaml(learned).find("gaussian_sigma: 0.3"), std::string::npos);
}

TEST(Objective, KlScheduleWarmUpAndCycles) {
  TrainConfig t;
  t.beta = 2.0f;
  Objective o = Objective::from_config(t);
  EXPECT_EQ(o.kl_weight(0), 2.0f);
  t.kl_warmup_steps = 4;
  o = Objective::from_config(t);
  EXPECT_FLOAT_EQ(o.kl_weight(0), 0.5f);
  EXPECT_FLOAT_EQ(o.kl_weight(3), 2.0f);
  EXPECT_FLOAT_EQ(o.kl_weight(100), 2.0f);
  t.kl_warmup_steps = 0;
  t.kl_cycle_steps = 10;
  t.kl_cycle_ramp = 0.5f;  // 5 steps up, 5 at beta, again
  o = Objective::from_config(t);
  EXPECT_FLOAT_EQ(o.kl_weight(0), 0.4f);
  EXPECT_FLOAT_EQ(o.kl_weight(4), 2.0f);
  EXPECT_FLOAT_EQ(o.kl_weight(9), 2.0f);
  EXPECT_FLOAT_EQ(o.kl_weight(10), 0.4f);
  EXPECT_FLOAT_EQ(o.kl_weight(12), 1.2f);
  EXPECT_NE(o.describe().find("cyclical"), std::string::npos);
}

// Keys that contradict each other are refused when the config loads, naming both keys.
TEST(Objective, ContradictingKeysAreConfigErrors) {
  const std::string base = "run: {dir: r}\ndata: {train: t.yaml}\n";
  struct Case {
    std::vector<std::string> sets;
    const char* names;
  };
  const std::vector<Case> cases = {
      {{"train.objective=iwae", "train.iw_samples=5", "train.beta=4"}, "train.beta"},
      {{"train.objective=iwae", "train.kl_cycle_steps=100"}, "train.kl_cycle_steps"},
      {{"train.objective=iwae", "train.free_bits=0.5"}, "train.free_bits"},
      {{"train.iw_samples=5"}, "train.iw_samples"},
      {{"train.kl_warmup_steps=10", "train.kl_cycle_steps=100"}, "train.kl_cycle_steps"},
      {{"model.prior=vamp", "train.free_bits=0.5"}, "train.free_bits"},
      {{"model.prior=vamp", "model.conditional=true"}, "model.conditional"},
      {{"train.objective=iwae", "train.iw_samples=5", "train.tc_beta=6"}, "train.tc_beta"},
      {{"model.type=hvae", "train.tc_beta=6"}, "train.tc_beta"},
      {{"train.tc_batch=32"}, "train.tc_batch"},
      {{"train.tc_beta=6", "train.tc_batch=48"}, "train.tc_batch"},  // 48 does not divide 128
      {{"model.likelihood=discretized_logistic", "data.binarize=dynamic"}, "data.binarize"},
      {{"model.gaussian_sigma=0.1"}, "model.gaussian_sigma"},  // with the default bernoulli
  };
  for (const Case& c : cases) {
    try {
      parse_config(base, "test.yaml", c.sets);
      ADD_FAILURE() << "accepted: " << c.sets.back();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.names), std::string::npos) << e.what();
    }
  }
  const Config ok = parse_config(base, "test.yaml", {"train.objective=iwae", "train.iw_samples=5"});
  EXPECT_TRUE(Objective::from_config(ok.train).iwae());
  EXPECT_EQ(Objective::from_config(ok.train).samples, 5);
  EXPECT_FALSE(Objective::from_config(ok.train).warms_up_log_ratio());
  // The iwae objective takes a warm-up of its log-weights' log p(z) - log q(z|x).
  const Config warm = parse_config(base, "test.yaml", {"train.objective=iwae", "train.iw_samples=5", "train.kl_warmup_steps=100"});
  const Objective w = Objective::from_config(warm.train);
  EXPECT_TRUE(w.warms_up_log_ratio());
  EXPECT_FLOAT_EQ(w.kl_weight(49), 0.5f);
  EXPECT_NE(w.describe().find("warm-up"), std::string::npos) << w.describe();
}

}  // namespace
}  // namespace elbo
