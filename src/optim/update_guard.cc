#include "elbo/optim/update_guard.h"

namespace elbo {

UpdateRule update_rule_of(const TrainConfig& train) {
  UpdateRule rule;
  rule.clip_norm = train.grad_clip;
  rule.skip_norm = train.skip_threshold;
  rule.skip_nonfinite = train.nonfinite == "skip";
  return rule;
}

UpdateGuard::UpdateGuard(Backend& backend, const UpdateRule& rule)
    : be_(backend), rule_(rule), gate_(&backend, UpdateGate::kSize), sumsq_(&backend, 1) {
  restore_counts(Counts{});
  be_.fill(sumsq_.data(), 1, 0.0f);
}

void UpdateGuard::decide(const float* grads, size_t n, const float* health, bool measure_norm) {
  if (!needs_norm() && !measure_norm) return;  // the gate stays {1, not skipped}
  be_.sum_squares(sumsq_.data(), grads, n);
  if (needs_norm()) be_.update_gate(gate_.data(), sumsq_.data(), health, rule_);
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
