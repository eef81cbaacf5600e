// Adam / AdamW on the flat parameter buffer, with optional clipping by global
// gradient norm. The norm and the clip scale stay on the device; the update is one
// fused pass over the buffer.
#pragma once
#include <cstdint>

#include "elbo/backend.h"
#include "elbo/config.h"

namespace elbo {

class Adam {
 public:
  Adam(Backend& backend, size_t n, const TrainConfig& config);

  // One update with the (already all-reduced) gradients. The global gradient norm is
  // computed when clipping needs it or when measure_norm asks for it (log steps).
  // device_step: when set, the step's {lr_t / (1 - beta1^t), 1 / sqrt(1 - beta2^t), lr_t}
  // are read from that device memory (written there by the caller from step_scalars()),
  // so that a captured step replays with the current step's values.
  void step(float* params, const float* grads, bool measure_norm = true, const float* device_step = nullptr);
  // The three per-step values of step t (from 1), for device_step.
  void step_scalars(int64_t t, float out[3]) const;
  // The run's length, for schedules that need it (cosine): train.lr_schedule applies
  // from here on; until set, the rate is train.lr.
  void set_total_steps(int64_t total) { total_steps_ = total; }
  // The learning rate of step t (from 1).
  float learning_rate(int64_t t) const;

  // Squared global gradient norm of the last step that measured it (device scalar, before clipping),
  // and the moments (for checkpoints).
  const float* grad_sumsq() const { return sumsq_.data(); }
  float* m() { return m_.data(); }
  float* v() { return v_.data(); }
  int64_t steps_done() const { return t_; }
  void set_steps_done(int64_t t) { t_ = t; }
  size_t size() const { return n_; }

 private:
  AdamHyper hyper_at(int64_t t) const;

  Backend& be_;
  size_t n_;
  TrainConfig config_;
  int64_t t_ = 0;
  int64_t total_steps_ = 0;  // 0: no schedule
  DeviceBuffer m_, v_, sumsq_, clip_;
};

}  // namespace elbo
