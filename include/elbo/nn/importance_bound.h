// The IWAE objective's graph (Burda et al. 2016), the same for every model: from each
// sample's -log p(x | z) and log p(z) - log q(z | x) (summed over a hierarchy's groups),
// the importance log-weights, the k-sample bound and the terms logged beside it.
//
// Warm-up (train.kl_warmup_steps with train.objective: iwae): the trained log-weights are
//   log w_t(beta) = log p(x | z_t) + beta * (log p(z_t) - log q(z_t | x)),
// beta ramping from 0 to 1 like the ELBO's KL weight. With k = 1 that is the ELBO with a
// warmed-up KL (its single-sample estimate); with beta = 1 it is the IWAE bound. It keeps
// the upper groups of a hierarchy from collapsing to their priors in the first epochs,
// as the KL warm-up does for the ELBO (docs/models.md).
#pragma once
#include "elbo/nn/graph.h"

namespace elbo {

// Per row: log w = -nll + log_ratio.
Var log_weight(Graph& g, Var nll, Var log_ratio);

struct ImportanceBound {
  Var log_mean_weight;  // per image: log (1/k) sum_t w_t, the IWAE bound (logged as its negative)
  Var trained;          // per image: the term backward differentiates (log_mean_weight
                        // itself, or with the warm-up its form with beta-weighted log-weights)
  Var recon, kl;        // per image: the samples' mean -log p(x|z) and log q - log p (logs)
};
// rows = images * k samples (image i's in rows i*k .. i*k+k-1). ratio_weight null: the
// bound is trained. Otherwise beta = **ratio_weight, a device scalar read at every forward
// (1 while *ratio_weight is null), weighs log_ratio in the trained log-weights, and the
// bound and the logged terms come from the unweighted ones, with no gradient.
ImportanceBound importance_bound(Graph& g, Var nll, Var log_ratio, int k, const float* const* ratio_weight);

}  // namespace elbo
