// Finite-difference gradient checks (Caffe's GradientChecker idea): every layer and
// op with a backward, and the whole negative ELBO of each model configuration, with
// the noise fixed by the counter RNG. Central differences in float32 on small sizes;
// tolerance |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/models/mlp_vae.h"
#include "elbo/nn/linear.h"

namespace elbo {
namespace {

constexpr float kStep = 1e-2f;
constexpr float kAtol = 2e-3f;
constexpr float kRtol = 2e-2f;

std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// Checks d loss / d values[i] for every i against central differences. loss() reads values.
void expect_gradient(std::vector<float>& values, const std::vector<float>& analytic, const std::function<double()>& loss,
                     const char* what) {
  ASSERT_EQ(values.size(), analytic.size());
  int bad = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const float saved = values[i];
    values[i] = saved + kStep;
    const double up = loss();
    values[i] = saved - kStep;
    const double down = loss();
    values[i] = saved;
    const double numeric = (up - down) / (2.0 * kStep);
    const double tol = kAtol + kRtol * std::max(std::fabs(numeric), std::fabs(double(analytic[i])));
    if (std::fabs(numeric - analytic[i]) > tol && ++bad <= 5)
      ADD_FAILURE() << what << ": index " << i << " analytic " << analytic[i] << " numeric " << numeric;
  }
  EXPECT_EQ(bad, 0) << what;
}

double sum_of(const float* x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  return s;
}

class GradCheck : public ::testing::TestWithParam<Activation> {};

std::string activation_test_name(const ::testing::TestParamInfo<Activation>& info) {
  static const char* const names[] = {"identity", "relu", "tanh", "sigmoid", "leaky_relu", "elu"};
  return names[int(info.param)];
}

TEST_P(GradCheck, LinearLayerWeightsBiasAndInput) {
  auto be = make_cpu_backend();
  const int rows = 3, in = 5, out = 4;
  ParamStore store;
  Linear layer(store, "fc", in, out, GetParam());
  store.allocate(*be, 7);
  std::vector<float> x = random_vector(size_t(rows) * in, 1);
  // Loss = sum(y * r) with a fixed random r, so every output carries a distinct gradient.
  std::vector<float> r = random_vector(size_t(rows) * out, 2);
  auto loss = [&] {
    const float* y = layer.forward(*be, x.data(), rows);
    double s = 0;
    for (size_t i = 0; i < r.size(); ++i) s += double(y[i]) * r[i];
    return s;
  };
  loss();
  std::copy(r.begin(), r.end(), layer.grad_output());
  std::vector<float> dx(x.size());
  be->fill(store.grads(), store.total(), 0.0f);
  layer.backward(*be, x.data(), layer.grad_output(), dx.data(), rows);
  std::vector<float> params(store.params(), store.params() + store.total());
  std::vector<float> grads(store.grads(), store.grads() + store.total());
  // Perturb parameters through a host copy written back before each loss evaluation.
  auto param_loss = [&] {
    std::copy(params.begin(), params.end(), store.params());
    return loss();
  };
  expect_gradient(params, grads, param_loss, "linear parameters");
  std::copy(params.begin(), params.end(), store.params());
  expect_gradient(x, dx, loss, "linear input");
}

INSTANTIATE_TEST_SUITE_P(Activations, GradCheck,
                         ::testing::Values(Activation::kIdentity, Activation::kTanh, Activation::kSigmoid,
                                           Activation::kELU, Activation::kReLU, Activation::kLeakyReLU),
                         activation_test_name);

TEST(GradCheckOps, BernoulliLikelihood) {
  auto be = make_cpu_backend();
  const int rows = 2, dim = 6;
  std::vector<float> logits = random_vector(rows * dim, 3, -3, 3), x = random_vector(rows * dim, 4, 0, 1);
  std::vector<float> nll(rows), grad(rows * dim);
  auto loss = [&] {
    be->bernoulli_nll_forward(nll.data(), logits.data(), x.data(), rows, dim);
    return sum_of(nll.data(), rows);
  };
  be->bernoulli_nll_backward(grad.data(), logits.data(), x.data(), rows, dim, 1.0f);
  expect_gradient(logits, grad, loss, "bernoulli logits");
}

TEST(GradCheckOps, GaussianLikelihood) {
  auto be = make_cpu_backend();
  const int rows = 2, dim = 5;
  std::vector<float> out = random_vector(rows * 2 * dim, 5), x = random_vector(rows * dim, 6, 0, 1);
  std::vector<float> nll(rows), grad(out.size());
  auto loss = [&] {
    be->gaussian_nll_forward(nll.data(), out.data(), x.data(), rows, dim);
    return sum_of(nll.data(), rows);
  };
  be->gaussian_nll_backward(grad.data(), out.data(), x.data(), rows, dim, 1.0f);
  expect_gradient(out, grad, loss, "gaussian mean|logvar");
}

TEST(GradCheckOps, KlAndReparameterization) {
  auto be = make_cpu_backend();
  const int rows = 3, latent = 4;
  std::vector<float> stats = random_vector(rows * 2 * latent, 8);
  std::vector<float> z(rows * latent), eps(rows * latent), kl(rows);
  std::vector<float> r = random_vector(rows * latent, 9);
  const NoiseKey key{42, 1, 100, 0};
  // Loss = sum(z * r) + 0.7 * sum(KL): exercises both backward paths into (mu | logvar).
  auto loss = [&] {
    be->reparameterize(z.data(), eps.data(), stats.data(), rows, latent, key);
    be->kl_forward(kl.data(), stats.data(), rows, latent);
    double s = 0.7 * sum_of(kl.data(), rows);
    for (size_t i = 0; i < z.size(); ++i) s += double(z[i]) * r[i];
    return s;
  };
  loss();
  std::vector<float> grad(stats.size(), 0.0f);
  be->reparameterize_backward(grad.data(), r.data(), eps.data(), stats.data(), rows, latent);
  be->kl_backward(grad.data(), stats.data(), rows, latent, 0.7f);
  expect_gradient(stats, grad, loss, "stochastic layer");
}

struct ModelCase {
  const char* likelihood;
  const char* activation;
};

class ModelGradCheck : public ::testing::TestWithParam<ModelCase> {};

// The whole negative ELBO (recon weight 1/B, KL weight beta/B) against every parameter.
TEST_P(ModelGradCheck, WholeNegativeElbo) {
  auto be = make_cpu_backend();
  ModelConfig mc;
  mc.hidden = {7, 6};
  mc.latent = 3;
  mc.likelihood = GetParam().likelihood;
  mc.activation = GetParam().activation;
  const int dim = 8, rows = 4;
  auto model = make_model(mc, dim, *be, 11);
  ParamStore& ps = model->params();
  std::vector<float> x = random_vector(size_t(rows) * dim, 12, 0, 1);
  const NoiseKey key{5, 1, 0, 0};
  const float wr = 1.0f / rows, wk = 0.8f / rows;
  auto loss = [&] {
    model->forward(*be, x.data(), rows, key);
    return wr * sum_of(model->recon_per_row(), rows) + wk * sum_of(model->kl_per_row(), rows);
  };
  loss();
  be->fill(ps.grads(), ps.total(), 0.0f);
  size_t lowest_ready = ps.total();
  model->backward(*be, x.data(), rows, wr, wk, [&](size_t offset) {
    EXPECT_LE(offset, lowest_ready) << "gradients must become final from the end of the buffer backwards";
    lowest_ready = offset;
  });
  EXPECT_EQ(lowest_ready, 0u);
  std::vector<float> params(ps.params(), ps.params() + ps.total());
  std::vector<float> grads(ps.grads(), ps.grads() + ps.total());
  auto param_loss = [&] {
    std::copy(params.begin(), params.end(), ps.params());
    return loss();
  };
  expect_gradient(params, grads, param_loss, "whole model");
}

INSTANTIATE_TEST_SUITE_P(Models, ModelGradCheck,
                         ::testing::Values(ModelCase{"bernoulli", "tanh"}, ModelCase{"gaussian", "tanh"},
                                           ModelCase{"bernoulli", "elu"}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return std::string(info.param.likelihood) + "_" + info.param.activation;
                         });

}  // namespace
}  // namespace elbo
