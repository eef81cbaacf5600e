// Adam, AdamW and Adamax (train.optimizer) on the flat parameter buffer: one fused pass.
// Clipping and skipping are the UpdateGuard's decision (optim/update_guard.h), passed in
// as its device gate.
#pragma once
#include <cstdint>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/dist/shard.h"

namespace elbo {

class Adam {
 public:
  Adam(Backend& backend, size_t n, const TrainConfig& config);
  // ZeRO-1 (dist.zero): the moments exist for `shard` of the n parameters only, and
  // step() updates that shard; the caller all-gathers the parameters afterwards. Each
  // element's update is the unsharded one (element-wise, the same gate), so the shard's
  // parameters and moments are bitwise those of an unsharded Adam.
  Adam(Backend& backend, size_t n, const TrainConfig& config, const Shard& shard);

  // One update with the (already all-reduced) gradients; params and grads are the whole
  // flat buffers (n floats) also when sharded.
  // device_step: when set, the step's {lr_t / (1 - beta1^t), 1 / sqrt(1 - beta2^t), lr_t}
  // are read from that device memory (written there by the caller from step_scalars()),
  // so that a captured step replays with the current step's values.
  // gate: the UpdateGuard's device gate (the gradient scale, and whether to skip), or null.
  // A skipped step still counts: the bias corrections and the schedule follow the step number.
  void step(float* params, const float* grads, const float* device_step = nullptr, const float* gate = nullptr);
  // The three per-step values of step t (from 1), for device_step.
  void step_scalars(int64_t t, float out[3]) const;
  // The run's length, for schedules that need it (cosine): train.lr_schedule applies
  // from here on; until set, the rate is train.lr.
  void set_total_steps(int64_t total) { total_steps_ = total; }
  // The learning rate of step t (from 1).
  float learning_rate(int64_t t) const;

  // The moments of shard() (for checkpoints: train/optimizer_state.h gathers them);
  // Adamax keeps its infinity norm in v.
  float* m() { return m_.data(); }
  float* v() { return v_.data(); }
  const Shard& shard() const { return shard_; }
  // Made with a shard (dist.zero): the same answer on every rank, also where a rank's shard
  // happens to be the whole buffer (n <= 16 floats) or the world is 1 — every rank must take
  // part in the same collectives (the parameter all-gather, gathering the moments).
  bool sharded() const { return sharded_; }
  // Floats in each of m and v: shard().size().
  size_t state_size() const { return shard_.size(); }
  int64_t steps_done() const { return t_; }
  void set_steps_done(int64_t t) { t_ = t; }
  size_t size() const { return n_; }

 private:
  AdamHyper hyper_at(int64_t t) const;

  Backend& be_;
  size_t n_;
  Shard shard_;
  TrainConfig config_;
  int64_t t_ = 0;
  int64_t total_steps_ = 0;  // 0: no schedule
  DeviceBuffer m_, v_;
  bool sharded_ = false;
};

}  // namespace elbo
