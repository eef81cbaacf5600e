// Model registry: config name -> model. New models of the family register here.
#include "elbo/error.h"
#include "elbo/models/conv_vae.h"
#include "elbo/models/hvae.h"
#include "elbo/models/mlp_vae.h"

namespace elbo {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::kReLU;
  if (name == "tanh") return Activation::kTanh;
  if (name == "sigmoid") return Activation::kSigmoid;
  if (name == "leaky_relu") return Activation::kLeakyReLU;
  if (name == "elu") return Activation::kELU;
  if (name == "swish" || name == "silu") return Activation::kSwish;
  if (name == "softplus") return Activation::kSoftplus;
  if (name == "gelu") return Activation::kGELU;
  if (name == "identity") return Activation::kIdentity;
  ELBO_FAIL("model.activation: unknown activation '" << name
                                                     << "' (expected relu, tanh, sigmoid, leaky_relu, elu, swish, silu, "
                                                        "softplus, gelu)");
}

std::unique_ptr<VaeModel> make_model(const ModelConfig& config, Shape sample, Backend& backend, uint64_t seed) {
  std::unique_ptr<VaeModel> model;
  if (config.type == "mlp_vae") {
    model = std::make_unique<MlpVae>(config, int(sample.row_size()));
  } else if (config.type == "conv_vae") {
    model = std::make_unique<ConvVae>(config, sample);
  } else if (config.type == "hvae") {
    model = std::make_unique<Hvae>(config, sample, seed);
  } else {
    ELBO_FAIL("model.type: unknown model '" << config.type << "' (expected mlp_vae, conv_vae or hvae)");
  }
  model->params().allocate(backend, seed);
  return model;
}

std::unique_ptr<VaeModel> make_model(const ModelConfig& config, int input_dim, Backend& backend, uint64_t seed) {
  return make_model(config, Shape::rows(1, input_dim), backend, seed);
}

}  // namespace elbo
