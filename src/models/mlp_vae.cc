#include "elbo/models/mlp_vae.h"

#include "elbo/nn/layers.h"

namespace elbo {

MlpVae::MlpVae(const ModelConfig& config, int input_dim)
    : GraphVae(Shape::rows(1, input_dim), config.latent, parse_likelihood(config.likelihood, config.gaussian_sigma),
               config.conditional ? config.classes : 0, config.prior == "vamp" ? config.pseudo_inputs : 0) {
  const Activation act = parse_activation(config.activation);
  int in = input_dim + classes_;  // a conditional model reads [x | one-hot class]
  for (size_t i = 0; i < config.hidden.size(); ++i) {
    encoder_.emplace_back(store_, "encoder." + std::to_string(i), in, config.hidden[i], act);
    in = config.hidden[i];
  }
  encoder_.emplace_back(store_, "encoder." + std::to_string(config.hidden.size()), in, 2 * latent_);
  in = latent_ + classes_;  // and decodes [z | one-hot class]
  for (size_t i = config.hidden.size(); i-- > 0;) {
    const size_t index = config.hidden.size() - 1 - i;
    decoder_.emplace_back(store_, "decoder." + std::to_string(index), in, config.hidden[i], act);
    in = config.hidden[i];
  }
  decoder_.emplace_back(store_, "decoder." + std::to_string(config.hidden.size()), in,
                        likelihood_.params() * input_dim);
}

Var MlpVae::encode(Graph& g, Var x, Var y) const {
  if (y.valid()) x = concat_columns(g, x, y);
  for (const Linear& layer : encoder_) x = layer(g, x);
  return x;  // (mu | logvar)
}

Var MlpVae::decode(Graph& g, Var z, Var y) const {
  if (y.valid()) z = concat_columns(g, z, y);
  for (const Linear& layer : decoder_) z = layer(g, z);
  return z;
}

}  // namespace elbo
