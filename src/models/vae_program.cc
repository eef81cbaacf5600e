#include "elbo/models/vae_program.h"

#include "elbo/nn/importance_bound.h"

namespace elbo {

void VaeProgram::record_importance_bound(Var log_ratio, int k, const float* const* ratio_weight) {
  const ImportanceBound b = importance_bound(*graph, recon, log_ratio, k, ratio_weight);
  log_mean_weight = b.log_mean_weight;
  trained_bound = b.trained;
  recon = b.recon;
  kl = b.kl;
}

const float* VaeProgram::values(Var term) const { return term.valid() ? graph->value(term) : nullptr; }

bool VaeProgram::backward_through_bound(float recon_weight, const std::function<void(size_t)>& on_grads_ready) {
  if (!trained_bound.valid()) return false;
  graph->backward({{trained_bound, Weight(-recon_weight)}}, on_grads_ready);
  return true;
}

void VaeProgram::run_into(Backend& be, const float* input, float* result) {
  graph->bind(in, input);
  graph->forward();
  be.copy(result, graph->value(out), graph->shape(out).numel());
}

}  // namespace elbo
