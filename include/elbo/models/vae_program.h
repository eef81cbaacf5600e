// One computation a graph-built model records (its training or evaluation pass, the
// importance weights, decoding, ...): the graph and the tensors the trainer and the tools
// read from it. GraphVae and Hvae keep one per (purpose, rows, k, gradients), each adding
// its own tensors; what reads them, and the IWAE objective's glue, is written here once.
#pragma once
#include <functional>
#include <memory>

#include "elbo/nn/graph.h"

namespace elbo {

struct VaeProgram {
  std::unique_ptr<Graph> graph;
  Var in, out;
  Var recon, kl;          // per row: -log p(x|z) and the KL (iwae: the samples' means, logged)
  Var stats;              // the posterior statistics of each input (hvae: the top group's)
  Var log_mean_weight;    // iwae: log (1/k) sum_t w_t per image
  Var trained_bound;      // iwae: what backward differentiates (nn/importance_bound.h)

  // The IWAE objective: from recon (the k samples per image's -log p(x|z), image i's in
  // rows i*k .. i*k+k-1) and their log p(z) - log q(z|x), the bound and its logged terms
  // (recon and kl become the samples' means per image). ratio_weight: the warm-up's
  // beta (nn/importance_bound.h), or null.
  void record_importance_bound(Var log_ratio, int k, const float* const* ratio_weight);
  // The values of term after the last forward(), or null when this program has no such
  // term (an invalid Var).
  const float* values(Var term) const;
  // An iwae program's backward: minus the bound times recon_weight. False (nothing run)
  // when the program trains another objective.
  bool backward_through_bound(float recon_weight, const std::function<void(size_t)>& on_grads_ready);
  // Binds in, runs forward, copies out (its shape says how much) into the caller's buffer.
  void run_into(Backend& be, const float* input, float* result);
};

}  // namespace elbo
