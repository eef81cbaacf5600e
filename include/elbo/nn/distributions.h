// The VAE's distributions as graph nodes: sampling a diagonal Gaussian by
// reparameterization, its KL divergence from the standard normal prior, the likelihoods
// of the data, and the importance weights of the IWAE bound. The arithmetic lives in
// kernels/math.h (shared by the CPU and CUDA backends); these nodes wire it into the
// graph. Per-row terms (likelihoods, KL) are loss terms: Graph::backward seeds them.
#pragma once
#include "elbo/nn/graph.h"

namespace elbo {

// A sample of q = N(mu, exp(logvar)) for stats = (mu | logvar) (rows x 2L):
// z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1) drawn from *noise (read at each forward,
// so the caller may change the key between steps).
struct GaussianSample {
  Var z, eps;
};
GaussianSample gaussian_sample(Graph& g, Var stats, const NoiseKey* noise);

// Per row: KL(N(mu, exp(logvar)) || N(0, I)) summed over the L dimensions.
Var kl_std_normal(Graph& g, Var stats);

// Per row: -log p(x | logits) for Bernoulli pixels (x in [0, 1]).
Var bernoulli_nll(Graph& g, Var logits, Var x);
// Per row: -log N(x; mean, exp(logvar)) for out = (mean | logvar) (rows x 2D).
Var gaussian_nll(Graph& g, Var out, Var x);

// Per row: log w = -nll + log p(z) - log q(z | x), for z = mu + sigma * eps (evaluation).
Var importance_log_weight(Graph& g, Var nll, const GaussianSample& sample, Var stats);

}  // namespace elbo
