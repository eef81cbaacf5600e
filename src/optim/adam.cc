#include "elbo/optim/adam.h"

#include <cmath>

namespace elbo {

Adam::Adam(Backend& backend, size_t n, const TrainConfig& config)
    : be_(backend), n_(n), config_(config), m_(&backend, n), v_(&backend, n), sumsq_(&backend, 1), clip_(&backend, 1) {
  be_.fill(clip_.data(), 1, 1.0f);
}

void Adam::step(float* params, const float* grads, bool measure_norm) {
  ++t_;
  AdamHyper h;
  h.lr = config_.lr;
  h.beta1 = config_.beta1;
  h.beta2 = config_.beta2;
  h.eps = config_.eps;
  h.weight_decay = config_.weight_decay;
  h.decoupled = config_.optimizer == "adamw";
  // Bias corrections in double on the host: identical on every backend.
  h.bias_correction1 = float(1.0 - std::pow(double(config_.beta1), double(t_)));
  h.bias_correction2 = float(1.0 - std::pow(double(config_.beta2), double(t_)));
  const float* scale = nullptr;
  if (measure_norm || config_.grad_clip > 0.0f) be_.sum_squares(sumsq_.data(), grads, n_);
  if (config_.grad_clip > 0.0f) {
    be_.clip_scale(clip_.data(), sumsq_.data(), config_.grad_clip);
    scale = clip_.data();
  }
  be_.adam_step(params, grads, m_.data(), v_.data(), n_, h, scale);
}

}  // namespace elbo
