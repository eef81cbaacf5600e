#include "elbo/optim/adam.h"

#include <cmath>

#include "elbo/optim/lr_schedule.h"

namespace elbo {

Adam::Adam(Backend& backend, size_t n, const TrainConfig& config) : Adam(backend, n, config, Shard{0, n}) {
  sharded_ = false;
}

Adam::Adam(Backend& backend, size_t n, const TrainConfig& config, const Shard& shard)
    : be_(backend),
      n_(n),
      shard_(shard),
      config_(config),
      m_(&backend, shard.size()),
      v_(&backend, shard.size()),
      sharded_(true) {}

float Adam::learning_rate(int64_t t) const {
  return total_steps_ > 0 ? float(learning_rate_at(config_, t, total_steps_)) : config_.lr;
}

AdamHyper Adam::hyper_at(int64_t t) const {
  return make_adam_hyper(learning_rate(t), config_.beta1, config_.beta2, config_.eps, config_.weight_decay,
                         config_.optimizer == "adamw", t, config_.optimizer == "adamax");
}

void Adam::step_scalars(int64_t t, float out[3]) const {
  const AdamHyper h = hyper_at(t);
  out[0] = h.step_size;
  out[1] = h.inv_sqrt_bias_correction2;
  out[2] = h.lr;  // AdamW's decoupled decay scales with the scheduled rate
}

void Adam::step(float* params, const float* grads, const float* device_step, const float* gate) {
  ++t_;
  AdamHyper h = hyper_at(t_);
  h.device_step = device_step;
  be_.adam_step(params + shard_.begin, grads + shard_.begin, m_.data(), v_.data(), shard_.size(), h, gate);
}

}  // namespace elbo
