// MLP VAE (Kingma & Welling 2014): Gaussian encoder q(z|x) = N(mu, diag exp(logvar)),
// standard normal prior, Bernoulli (logits) or Gaussian (mean | logvar) decoder.
// Layer names follow PyTorch's nn.Sequential numbering: encoder.0 .. encoder.H (the
// last one outputs mu | logvar), decoder.0 .. decoder.H (the last one outputs p(x|z)).
#pragma once
#include <vector>

#include "elbo/models/vae_model.h"
#include "elbo/nn/linear.h"

namespace elbo {

class MlpVae final : public VaeModel {
 public:
  MlpVae(const ModelConfig& config, int input_dim);

  std::string type() const override { return "mlp_vae"; }
  ParamStore& params() override { return store_; }
  int input_dim() const override { return input_dim_; }
  int latent_dim() const override { return latent_; }

  void forward(Backend& be, const float* x, int rows, const NoiseKey& noise) override;
  const float* recon_per_row() const override { return recon_.data(); }
  const float* kl_per_row() const override { return kl_.data(); }
  void backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                const std::function<void(size_t)>& on_grads_ready) override;
  void log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                              const NoiseKey& noise) override;
  void decode_mean(Backend& be, float* out, const float* z, int rows) override;
  void reconstruct(Backend& be, float* out, const float* x, int rows) override;

 private:
  const float* encode(Backend& be, const float* x, int rows);   // returns stats (rows x 2*latent)
  const float* decode(Backend& be, const float* z, int rows);   // returns decoder output
  void likelihood_nll(Backend& be, float* nll, const float* out, const float* x, int rows);
  void ensure_rows(Backend& be, int rows);

  ParamStore store_;
  int input_dim_, latent_;
  bool gaussian_;
  std::vector<Linear> encoder_, decoder_;
  int capacity_rows_ = 0;
  DeviceBuffer z_, eps_, recon_, kl_, dz_, stats_rep_, x_rep_, zero_bias_;
};

}  // namespace elbo
