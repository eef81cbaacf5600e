// How far a diagonal Gaussian posterior q is from a learned diagonal Gaussian prior p, as
// graph nodes, for the groups of a hierarchical VAE whose prior p(z_l | z_>l) is computed
// by the model (the top group's N(0, I) uses kl_std_normal): the analytic KL for the ELBO
// and the sampled log-density ratio for importance weights. Gradients flow into both q
// and p. q and p are rows x 2L = (mu | logvar); the math is kernels/math.h's.
#pragma once
#include "elbo/nn/distributions.h"
#include "elbo/nn/graph.h"

namespace elbo {

// Per row: KL(N(q) || N(p)) summed over the L dimensions (rows x 1).
Var kl_gaussians(Graph& g, Var q, Var p);

// Per row: log p(z) - log q(z) summed over the L dimensions, for the sample z = mu_q +
// sigma_q * eps of q (gaussian_sample), eps held fixed in backward (the reparameterised
// IWAE gradient; z carries q's other dependence back through the sampling node).
Var gaussian_log_ratio(Graph& g, const GaussianSample& sample, Var q, Var p);

}  // namespace elbo
