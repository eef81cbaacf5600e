#include "elbo/optim/adam.h"

#include <cmath>

namespace elbo {

Adam::Adam(Backend& backend, size_t n, const TrainConfig& config)
    : be_(backend), n_(n), config_(config), m_(&backend, n), v_(&backend, n), sumsq_(&backend, 1), clip_(&backend, 1) {
  be_.fill(clip_.data(), 1, 1.0f);
}

void Adam::step(float* params, const float* grads, bool measure_norm) {
  ++t_;
  const AdamHyper h = make_adam_hyper(config_.lr, config_.beta1, config_.beta2, config_.eps, config_.weight_decay,
                                      config_.optimizer == "adamw", t_);
  const float* scale = nullptr;
  if (measure_norm || config_.grad_clip > 0.0f) be_.sum_squares(sumsq_.data(), grads, n_);
  if (config_.grad_clip > 0.0f) {
    be_.clip_scale(clip_.data(), sumsq_.data(), config_.grad_clip);
    scale = clip_.data();
  }
  be_.adam_step(params, grads, m_.data(), v_.data(), n_, h, scale);
}

}  // namespace elbo
