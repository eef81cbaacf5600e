// MLP VAE (Kingma & Welling 2014): Gaussian encoder q(z|x) = N(mu, diag exp(logvar)),
// standard normal prior, Bernoulli (logits) or Gaussian (mean | logvar) decoder.
// Layer names follow PyTorch's nn.Sequential numbering: encoder.0 .. encoder.H (the
// last one outputs mu | logvar), decoder.0 .. decoder.H (the last one outputs p(x|z)),
// so checkpoints of earlier elbo versions load unchanged. Conditional (model.conditional,
// Sohn et al. 2015): the one-hot class is appended to the encoder's input and to z.
#pragma once
#include <vector>

#include "elbo/models/graph_vae.h"
#include "elbo/nn/linear.h"

namespace elbo {

class MlpVae final : public GraphVae {
 public:
  MlpVae(const ModelConfig& config, int input_dim);
  std::string type() const override { return "mlp_vae"; }

 protected:
  Var encode(Graph& g, Var x, Var y) const override;
  Var decode(Graph& g, Var z, Var y) const override;

 private:
  std::vector<Linear> encoder_, decoder_;
};

}  // namespace elbo
