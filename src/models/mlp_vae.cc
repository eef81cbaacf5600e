#include "elbo/models/mlp_vae.h"

#include "elbo/error.h"

namespace elbo {

MlpVae::MlpVae(const ModelConfig& config, int input_dim)
    : input_dim_(input_dim), latent_(config.latent), gaussian_(config.likelihood == "gaussian") {
  const Activation act = parse_activation(config.activation);
  // Reserve first: Linear objects are not moved after construction.
  encoder_.reserve(config.hidden.size() + 1);
  decoder_.reserve(config.hidden.size() + 1);
  int in = input_dim;
  for (size_t i = 0; i < config.hidden.size(); ++i) {
    encoder_.emplace_back(store_, "encoder." + std::to_string(i), in, config.hidden[i], act);
    in = config.hidden[i];
  }
  encoder_.emplace_back(store_, "encoder." + std::to_string(config.hidden.size()), in, 2 * latent_,
                        Activation::kIdentity);
  in = latent_;
  for (size_t i = config.hidden.size(); i-- > 0;) {
    const size_t index = config.hidden.size() - 1 - i;
    decoder_.emplace_back(store_, "decoder." + std::to_string(index), in, config.hidden[i], act);
    in = config.hidden[i];
  }
  decoder_.emplace_back(store_, "decoder." + std::to_string(config.hidden.size()), in,
                        gaussian_ ? 2 * input_dim : input_dim, Activation::kIdentity);
}

void MlpVae::ensure_rows(Backend& be, int rows) {
  if (rows <= capacity_rows_) return;
  z_ = DeviceBuffer(&be, size_t(rows) * latent_);
  eps_ = DeviceBuffer(&be, size_t(rows) * latent_);
  dz_ = DeviceBuffer(&be, size_t(rows) * latent_);
  recon_ = DeviceBuffer(&be, rows);
  kl_ = DeviceBuffer(&be, rows);
  capacity_rows_ = rows;
}

const float* MlpVae::encode(Backend& be, const float* x, int rows) {
  const float* h = x;
  for (Linear& layer : encoder_) h = layer.forward(be, h, rows);
  return h;
}

const float* MlpVae::decode(Backend& be, const float* z, int rows) {
  const float* h = z;
  for (Linear& layer : decoder_) h = layer.forward(be, h, rows);
  return h;
}

void MlpVae::likelihood_nll(Backend& be, float* nll, const float* out, const float* x, int rows) {
  if (gaussian_)
    be.gaussian_nll_forward(nll, out, x, rows, input_dim_);
  else
    be.bernoulli_nll_forward(nll, out, x, rows, input_dim_);
}

void MlpVae::forward(Backend& be, const float* x, int rows, const NoiseKey& noise) {
  ensure_rows(be, rows);
  const float* stats = encode(be, x, rows);
  be.reparameterize(z_.data(), eps_.data(), stats, rows, latent_, noise);
  const float* out = decode(be, z_.data(), rows);
  likelihood_nll(be, recon_.data(), out, x, rows);
  be.kl_forward(kl_.data(), stats, rows, latent_);
}

void MlpVae::backward(Backend& be, const float* x, int rows, float recon_weight, Weight kl_weight,
                      const std::function<void(size_t)>& on_grads_ready) {
  // Decoder, last layer first: its output gradient comes from the likelihood.
  Linear& last = decoder_.back();
  if (gaussian_)
    be.gaussian_nll_backward(last.grad_output(), last.output(), x, rows, input_dim_, recon_weight);
  else
    be.bernoulli_nll_backward(last.grad_output(), last.output(), x, rows, input_dim_, recon_weight);
  for (size_t i = decoder_.size(); i-- > 0;) {
    const float* input = i == 0 ? z_.data() : decoder_[i - 1].output();
    float* dinput = i == 0 ? dz_.data() : decoder_[i - 1].grad_output();
    decoder_[i].backward(be, input, decoder_[i].grad_output(), dinput, rows);
    on_grads_ready(decoder_[i].param_offset());
  }
  // The stochastic layer: gradient w.r.t. (mu | logvar) from the sample and from the KL.
  Linear& head = encoder_.back();
  const float* stats = head.output();
  be.fill(head.grad_output(), size_t(rows) * 2 * latent_, 0.0f);
  be.reparameterize_backward(head.grad_output(), dz_.data(), eps_.data(), stats, rows, latent_);
  be.kl_backward(head.grad_output(), stats, rows, latent_, kl_weight);
  for (size_t i = encoder_.size(); i-- > 0;) {
    const float* input = i == 0 ? x : encoder_[i - 1].output();
    float* dinput = i == 0 ? nullptr : encoder_[i - 1].grad_output();
    encoder_[i].backward(be, input, encoder_[i].grad_output(), dinput, rows);
    on_grads_ready(encoder_[i].param_offset());
  }
}

void MlpVae::log_importance_weights(Backend& be, float* logw, const float* x, int images, int k,
                                    const NoiseKey& noise) {
  const int rows = images * k;
  ensure_rows(be, rows);
  if (stats_rep_.size() < size_t(rows) * 2 * latent_) stats_rep_ = DeviceBuffer(&be, size_t(rows) * 2 * latent_);
  if (x_rep_.size() < size_t(rows) * input_dim_) x_rep_ = DeviceBuffer(&be, size_t(rows) * input_dim_);
  // Encode each image once, then share its q(z|x) among its k samples.
  const float* stats = encode(be, x, images);
  be.repeat_rows(stats_rep_.data(), stats, images, 2 * latent_, k);
  be.repeat_rows(x_rep_.data(), x, images, input_dim_, k);
  be.reparameterize(z_.data(), eps_.data(), stats_rep_.data(), rows, latent_, noise);
  const float* out = decode(be, z_.data(), rows);
  likelihood_nll(be, recon_.data(), out, x_rep_.data(), rows);
  // logw = -nll + log p(z) - log q(z|x)
  be.fill(logw, rows, 0.0f);
  be.axpy(logw, recon_.data(), rows, -1.0f);
  be.prior_minus_posterior_log_density(logw, z_.data(), eps_.data(), stats_rep_.data(), rows, latent_);
}

void MlpVae::decode_mean(Backend& be, float* out, const float* z, int rows) {
  const float* o = decode(be, z, rows);
  if (zero_bias_.size() < size_t(input_dim_)) zero_bias_ = DeviceBuffer(&be, input_dim_);
  if (gaussian_) {
    for (int r = 0; r < rows; ++r) be.copy(out + size_t(r) * input_dim_, o + size_t(r) * 2 * input_dim_, input_dim_);
  } else {
    be.copy(out, o, size_t(rows) * input_dim_);
    be.bias_act_forward(out, zero_bias_.data(), rows, input_dim_, Activation::kSigmoid);
  }
}

void MlpVae::reconstruct(Backend& be, float* out, const float* x, int rows) {
  // z = mu: the first half of each stats row, gathered through a copy per row.
  ensure_rows(be, rows);
  const float* stats = encode(be, x, rows);
  for (int r = 0; r < rows; ++r) be.copy(z_.data() + size_t(r) * latent_, stats + size_t(r) * 2 * latent_, latent_);
  decode_mean(be, out, z_.data(), rows);
}

}  // namespace elbo
