// Finite-difference gradient checks (support/gradient_check.h): every layer and op
// with a backward, and the whole negative ELBO of each model configuration, with the
// noise fixed by the counter RNG. (The convolution ops: test_conv_ops.cc.)
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/models/mlp_vae.h"
#include "elbo/nn/distributions.h"
#include "elbo/nn/layers.h"
#include "elbo/nn/linear.h"
#include "support/gradient_check.h"
#include "support/model_check.h"

namespace elbo {
namespace {

class GradCheck : public ::testing::TestWithParam<Activation> {};

std::string activation_test_name(const ::testing::TestParamInfo<Activation>& info) {
  static const char* const names[] = {"identity", "relu", "tanh", "sigmoid", "leaky_relu", "elu"};
  return names[int(info.param)];
}

// The layer in a graph: y = act(x W^T + b) with x itself a learned tensor (so the
// input's gradient is checked too), loss = sum of Bernoulli NLLs of y against fixed
// targets, which gives every output a distinct gradient.
TEST_P(GradCheck, LinearLayerWeightsBiasAndInput) {
  auto be = make_cpu_backend();
  const int rows = 3, in = 5, out = 4;
  ParamStore store;
  const int x_slice = store.add("x", {rows, in}, 1);
  Linear layer(store, "fc", in, out, GetParam());
  // (A seed whose pre-activations keep away from ReLU's kink by more than the difference step.)
  store.allocate(*be, 8);
  std::vector<float> target = random_vector(size_t(rows) * out, 2, 0, 1);
  Graph g(*be, store);
  Var target_in = g.input("target", Shape::rows(rows, out));
  Var loss_term = bernoulli_nll(g, layer(g, parameter(g, x_slice, Shape::rows(rows, in))), target_in);
  g.plan(true);
  g.bind(target_in, target.data());
  auto loss = [&] {
    g.forward();
    return sum_of(g.value(loss_term), rows);
  };
  loss();
  be->fill(store.grads(), store.total(), 0.0f);
  g.backward({{loss_term, Weight(1.0f)}});
  std::vector<float> params(store.params(), store.params() + store.total());
  std::vector<float> grads(store.grads(), store.grads() + store.total());
  auto param_loss = [&] {
    std::copy(params.begin(), params.end(), store.params());
    return loss();
  };
  expect_gradient(params, grads, param_loss, "linear layer: input, weight and bias");
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
    be->distributions().bernoulli_nll_forward(nll.data(), logits.data(), x.data(), rows, dim);
    return sum_of(nll.data(), rows);
  };
  be->distributions().bernoulli_nll_backward(grad.data(), logits.data(), x.data(), rows, dim, 1.0f);
  expect_gradient(logits, grad, loss, "bernoulli logits");
}

TEST(GradCheckOps, GaussianLikelihood) {
  auto be = make_cpu_backend();
  const int rows = 2, dim = 5;
  std::vector<float> out = random_vector(rows * 2 * dim, 5), x = random_vector(rows * dim, 6, 0, 1);
  std::vector<float> nll(rows), grad(out.size());
  auto loss = [&] {
    be->distributions().gaussian_nll_forward(nll.data(), out.data(), x.data(), rows, dim);
    return sum_of(nll.data(), rows);
  };
  be->distributions().gaussian_nll_backward(grad.data(), out.data(), x.data(), rows, dim, 1.0f);
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
    be->distributions().reparameterize(z.data(), eps.data(), stats.data(), rows, latent, key);
    be->distributions().kl_forward(kl.data(), stats.data(), rows, latent);
    double s = 0.7 * sum_of(kl.data(), rows);
    for (size_t i = 0; i < z.size(); ++i) s += double(z[i]) * r[i];
    return s;
  };
  loss();
  std::vector<float> grad(stats.size(), 0.0f);
  be->distributions().reparameterize_backward(grad.data(), r.data(), eps.data(), stats.data(), rows, latent);
  be->distributions().kl_backward(grad.data(), stats.data(), rows, latent, 0.7f);
  expect_gradient(stats, grad, loss, "stochastic layer");
}

struct ModelCase {
  const char* likelihood;
  const char* activation;
};

class ModelGradCheck : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelGradCheck, WholeNegativeElbo) {
  auto be = make_cpu_backend();
  ModelConfig mc;
  mc.hidden = {7, 6};
  mc.latent = 3;
  mc.likelihood = GetParam().likelihood;
  mc.activation = GetParam().activation;
  const int dim = 8, rows = 4;
  auto model = make_model(mc, dim, *be, 11);
  expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * dim, 12, 0, 1), rows, "whole mlp_vae");
}

// The whole conv VAE (stride-2 and stride-1 convolutions, transposed convolutions,
// flatten/unflatten views), for both likelihoods; activations whose derivative needs
// their input (swish, gelu) follow each conv and transposed conv as their own node.
TEST(ConvModelGradCheck, WholeNegativeElbo) {
  struct Case {
    const char* likelihood;
    const char* activation;
  };
  uint32_t seed = 21;
  for (const Case& c : {Case{"bernoulli", "tanh"}, Case{"gaussian", "tanh"}, Case{"bernoulli", "swish"},
                        Case{"bernoulli", "gelu"}}) {
    auto be = make_cpu_backend();
    ModelConfig mc;
    mc.type = "conv_vae";
    mc.channels = {3, 4};
    mc.strides = {2, 1};
    mc.latent = 3;
    mc.activation = c.activation;
    mc.likelihood = c.likelihood;
    const int rows = 2;
    const Shape image = Shape::images(1, 2, 4, 4);
    auto model = make_model(mc, image, *be, seed);
    const std::string what = std::string(c.likelihood) + ", " + c.activation;
    expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * image.row_size(), seed + 1, 0, 1), rows,
                                what.c_str());
    seed += 2;
  }
}

// Conditional models: the one-hot class joins the encoder's input and z (mlp_vae), or the
// flattened features and z (conv_vae); every parameter, including the class columns.
TEST(ConditionalModelGradCheck, WholeNegativeElbo) {
  for (const char* type : {"mlp_vae", "conv_vae"}) {
    auto be = make_cpu_backend();
    ModelConfig mc;
    mc.type = type;
    mc.hidden = {5};
    mc.channels = {3};
    mc.strides = {2};
    mc.latent = 2;
    mc.activation = "tanh";
    mc.conditional = true;
    mc.classes = 3;
    const int rows = 3;
    const Shape image = Shape::images(1, 1, 4, 4);
    auto model = make_model(mc, image, *be, 31);
    ASSERT_EQ(model->condition_dim(), 3);
    const std::vector<float> one_hot = {0, 1, 0, 1, 0, 0, 0, 0, 1};
    model->set_condition(one_hot.data());
    expect_whole_model_gradient(*be, *model, random_vector(size_t(rows) * image.row_size(), 32, 0, 1), rows, type);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ModelGradCheck,
                         ::testing::Values(ModelCase{"bernoulli", "tanh"}, ModelCase{"gaussian", "tanh"},
                                           ModelCase{"bernoulli", "elu"}, ModelCase{"bernoulli", "swish"},
                                           ModelCase{"gaussian", "softplus"}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           return std::string(info.param.likelihood) + "_" + info.param.activation;
                         });

}  // namespace
}  // namespace elbo
