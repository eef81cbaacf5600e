#include "elbo/train/objective.h"

#include <algorithm>
#include <sstream>


namespace elbo {

Objective Objective::from_config(const TrainConfig& t) {
  Objective o;
  o.kind = t.objective == "iwae" ? Kind::kIwae : Kind::kElbo;
  o.samples = int(t.iw_samples);
  o.beta = t.beta;
  o.kl_warmup_steps = t.kl_warmup_steps;
  o.kl_cycle_steps = t.kl_cycle_steps;
  o.kl_cycle_ramp = t.kl_cycle_ramp;
  o.free_bits = t.free_bits;
  o.free_bits_per_group = t.free_bits_per == "group";
  o.kl_balance = t.kl_balance;
  o.tc_beta = t.tc_beta;
  o.tc_batch = int(t.tc_batch);
  return o;
}

float Objective::kl_weight(int64_t step) const {
  if (kl_cycle_steps > 0) {
    // Position in the current cycle, as a share of the ramp; at least one step of ramp.
    const int64_t ramp = std::max<int64_t>(1, int64_t(double(kl_cycle_ramp) * double(kl_cycle_steps)));
    const int64_t in_cycle = step % kl_cycle_steps;
    return float(beta * std::min(1.0, double(in_cycle + 1) / double(ramp)));
  }
  if (kl_warmup_steps <= 0) return beta;
  const double ramp = std::min(1.0, double(step + 1) / double(kl_warmup_steps));
  return float(beta * ramp);
}

std::string Objective::describe() const {
  std::ostringstream s;
  if (iwae()) {
    s << "iwae (k = " << samples;
    if (warms_up_log_ratio()) s << ", warm-up of log p(z) - log q(z|x) over " << kl_warmup_steps << " steps";
    s << ")";
    return s.str();
  }
  s << "elbo (beta " << beta;
  if (kl_warmup_steps > 0) s << ", KL warm-up " << kl_warmup_steps << " steps";
  if (kl_cycle_steps > 0) s << ", cyclical KL every " << kl_cycle_steps << " steps, ramp " << kl_cycle_ramp;
  if (free_bits > 0.0f) s << ", free bits " << free_bits << (free_bits_per_group ? " nats/group" : " nats/dim");
  if (kl_balance) s << ", KL balancing";
  if (total_correlation()) {
    s << ", beta-TC " << tc_beta << " over ";
    if (tc_batch > 0) s << tc_batch << " images";
    else s << "each rank's batch";
  }
  s << ")";
  return s.str();
}

}  // namespace elbo
