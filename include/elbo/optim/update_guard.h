// Which optimiser steps are applied, and how far: clipping by the global gradient norm
// (train.grad_clip), skipping a step whose gradient norm exceeds train.skip_threshold
// (VDVAE's guard against rare huge gradients), and skipping a step whose gradients, loss
// or input were NaN or infinite on any rank (train.nonfinite: skip). The decision is made
// on the device from the all-reduced gradients and the step's health slot
// (ParamStore::step_health), values every rank holds bit for bit alike: every rank skips
// the same steps with no extra collective, also inside a captured CUDA graph. A skipped
// step leaves the parameters, the optimiser's moments and the weight average unchanged.
// The counts of skipped steps live on the device too; the trainer reads them on log
// steps (metrics, the alarm) and keeps them in checkpoints.
//
// The squared norm is the sum, in block order, of the partial sums of squares of blocks
// of kShardAlign gradients (Backend::sum_squares_blocks). A sharded optimizer's rank holds
// the summed gradients of its shard only, which is whole blocks (dist/shard.h): it computes
// its blocks' partials, the ranks exchange them (an all-reduce of a few floats, zeros
// where a rank owns nothing, so every sum is exact) with their health, and every rank
// adds the same partials in the same order: the unsharded run's norm, bit for bit, for any
// world size.
#pragma once
#include <cstdint>
#include <functional>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/dist/shard.h"

namespace elbo {

// The rule of a run's config.
UpdateRule update_rule_of(const TrainConfig& train);

class UpdateGuard {
 public:
  // n: the number of gradients (ParamStore::total()).
  UpdateGuard(Backend& backend, const UpdateRule& rule, size_t n);

  // Whether every step needs the gradient norm (clipping or skipping is on).
  bool needs_norm() const { return rule_.clip_norm > 0.0f || rule_.skip_norm > 0.0f || rule_.skip_nonfinite; }
  // The gate of this step from the all-reduced gradients (n floats) and the summed
  // health (nullptr: healthy). measure_norm: compute the norm even when the rule does not
  // need it (log steps).
  void decide(const float* grads, const float* health, bool measure_norm);
  // The same for a sharded optimizer: grads holds the summed gradients over `own` only,
  // health this rank's own health (not yet summed); exchange(buf, count) must all-reduce
  // count floats over the ranks (a collective: every rank calls decide alike).
  using Exchange = std::function<void(float* buf, size_t count)>;
  void decide_sharded(const float* grads, const Shard& own, const float* health, bool measure_norm,
                      const Exchange& exchange);
  // The device UpdateGate (kernels/math.h) that the optimiser and the loss sums read.
  const float* gate() const { return gate_.data(); }
  // Squared global gradient norm of the last step that measured it (before clipping).
  const float* grad_sumsq() const { return sumsq_.data(); }

  struct Counts {
    int64_t nonfinite = 0;       // steps skipped because something was NaN or infinite
    int64_t over_threshold = 0;  // steps skipped because the gradient norm exceeded the threshold
    int64_t total() const { return nonfinite + over_threshold; }
  };
  // The run's counts so far (a copy from the device) and their restoration on resume.
  Counts counts() const;
  void restore_counts(const Counts& counts);
  const UpdateRule& rule() const { return rule_; }

 private:
  // partials_: one partial sum of squares per block, then the health.
  void measure(const float* grads, const Shard& own, const float* health);
  void settle();

  Backend& be_;
  UpdateRule rule_;
  size_t n_, blocks_;
  DeviceBuffer gate_, sumsq_, partials_;
};

}  // namespace elbo
