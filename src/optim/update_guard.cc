#include "elbo/optim/update_guard.h"

#include "elbo/error.h"

namespace elbo {

UpdateRule update_rule_of(const TrainConfig& train) {
  UpdateRule rule;
  rule.clip_norm = train.grad_clip;
  rule.skip_norm = train.skip_threshold;
  rule.skip_nonfinite = train.nonfinite == "skip";
  return rule;
}

UpdateGuard::UpdateGuard(Backend& backend, const UpdateRule& rule, size_t n)
    : be_(backend),
      rule_(rule),
      n_(n),
      blocks_((n + kShardAlign - 1) / kShardAlign),
      gate_(&backend, UpdateGate::kSize),
      sumsq_(&backend, 1),
      partials_(&backend, blocks_ + 1) {
  restore_counts(Counts{});
  be_.fill(sumsq_.data(), 1, 0.0f);
}

void UpdateGuard::decide(const float* grads, const float* health, bool measure_norm) {
  if (!needs_norm() && !measure_norm) return;  // the gate stays {1, not skipped}
  measure(grads, Shard{0, n_}, health);
  settle();
}

void UpdateGuard::decide_sharded(const float* grads, const Shard& own, const float* health, bool measure_norm,
                                 const Exchange& exchange) {
  if (!needs_norm() && !measure_norm) return;
  ELBO_CHECK(own.size() == 0 ||
                 (own.begin % kShardAlign == 0 && own.end <= n_ && (own.end % kShardAlign == 0 || own.end == n_)),
             "update guard: shard [" << own.begin << ", " << own.end << ") is not whole blocks of " << kShardAlign
                                     << " of " << n_ << " gradients");
  measure(grads, own, health);
  exchange(partials_.data(), partials_.size());
  settle();
}

void UpdateGuard::measure(const float* grads, const Shard& own, const float* health) {
  float* partials = partials_.data();
  if (own.size() < n_) be_.fill(partials, partials_.size(), 0.0f);
  be_.sum_squares_blocks(partials + own.begin / kShardAlign, grads + own.begin, own.size(), kShardAlign);
  if (health)
    be_.copy(partials + blocks_, health, 1);
  else
    be_.fill(partials + blocks_, 1, 0.0f);
}

void UpdateGuard::settle() {
  be_.sum(sumsq_.data(), partials_.data(), blocks_);
  if (needs_norm()) be_.update_gate(gate_.data(), sumsq_.data(), partials_.data() + blocks_, rule_);
}

UpdateGuard::Counts UpdateGuard::counts() const {
  float g[UpdateGate::kSize];
  be_.copy_to_host(g, gate_.data(), UpdateGate::kSize);
  return Counts{int64_t(g[UpdateGate::kSkippedNonfinite]), int64_t(g[UpdateGate::kSkippedOverThreshold])};
}

void UpdateGuard::restore_counts(const Counts& counts) {
  float g[UpdateGate::kSize] = {};
  g[UpdateGate::kScale] = 1.0f;
  g[UpdateGate::kSkip] = 0.0f;
  g[UpdateGate::kSkippedNonfinite] = float(counts.nonfinite);
  g[UpdateGate::kSkippedOverThreshold] = float(counts.over_threshold);
  be_.copy_to_device(gate_.data(), g, UpdateGate::kSize);
  be_.synchronize();
}

}  // namespace elbo
