// The VAE's distributions as graph nodes: sampling a diagonal Gaussian by
// reparameterization, its KL divergence from the standard normal prior, the likelihoods
// of the data, and the importance weights of the IWAE bound. The arithmetic lives in
// kernels/math.h (shared by the CPU and CUDA backends); these nodes wire it into the
// graph. Per-row terms (likelihoods, KL) are loss terms: Graph::backward seeds them.
#pragma once
#include <string>

#include "elbo/nn/graph.h"

namespace elbo {

// A sample of q = N(mu, exp(logvar)) for stats = (mu | logvar) (rows x 2L):
// z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1) drawn from *noise (read at each forward,
// so the caller may change the key between steps).
struct GaussianSample {
  Var z, eps;
};
GaussianSample gaussian_sample(Graph& g, Var stats, const NoiseKey* noise);

// Per row: KL(N(mu, exp(logvar)) || N(0, I)) summed over the L dimensions. When
// *dim_gates is set at backward time (a device array of L floats), dimension j's gradient
// is scaled by (*dim_gates)[j]: free bits switch dimensions under their floor off.
Var kl_std_normal(Graph& g, Var stats, const float* const* dim_gates = nullptr);

// The likelihoods of the data (model.likelihood): the decoder's output per data value is
// one logit (bernoulli), a mean (gaussian with a fixed sigma, model.gaussian_sigma) or a
// (mean | log-variance) or (mean | log-scale) pair (gaussian with a learned sigma;
// discretized_logistic: 8-bit values scaled to [0, 1], kernels/math.h dlogistic_nll).
enum class LikelihoodKind { kBernoulli, kGaussian, kDiscretizedLogistic };
struct Likelihood {
  LikelihoodKind kind = LikelihoodKind::kBernoulli;
  float fixed_sigma = 0.0f;  // gaussian: the standard deviation of every value; 0: learned
  int params() const;        // decoder outputs per data value: 1 or 2
  const char* name() const;
};
// model.likelihood and model.gaussian_sigma; throws naming the key.
Likelihood parse_likelihood(const std::string& name, float gaussian_sigma = 0.0f);
// Per row: -log p(x | out) (out: rows x params() * D, the mean values first).
Var likelihood_nll(Graph& g, Var out, Var x, Likelihood likelihood);
// E[x | out] as rows x D: sigmoid of the logits, or the mean half (gaussian; the
// logistic's location, its mean, for discretized_logistic).
Var likelihood_mean(Graph& g, Var out, Likelihood likelihood);

// Per row: -log p(x | logits) for Bernoulli pixels (x in [0, 1]).
Var bernoulli_nll(Graph& g, Var logits, Var x);
// Per row: -log N(x; mean, exp(logvar)) for out = (mean | logvar) (rows x 2D).
Var gaussian_nll(Graph& g, Var out, Var x);

// Per row: log p(z) - log q(z | x) for the prior N(0, I) and z = mu + sigma * eps, with eps
// held fixed in backward (the reparameterised IWAE gradient); an importance log-weight
// adds -log p(x | z) to it (nn/importance_bound.h).
Var prior_minus_posterior(Graph& g, const GaussianSample& sample, Var stats);

// Per image, from rows = images * k log-weights (image i's samples in rows i*k .. i*k+k-1):
// log (1/k) sum_t exp(logw[i*k + t]). Its gradient weights sample t by its normalised
// importance weight. The IWAE bound of image i is minus this value.
Var log_mean_exp(Graph& g, Var logw, int k);

// Per row: log q(z | x) of the sample z = mu + sigma * eps drawn from q = N(mu, exp(logvar))
// for stats = (mu | logvar), with eps held fixed in backward.
Var posterior_log_density(Graph& g, const GaussianSample& sample, Var stats);

// (n, m): row i, column k = log N(z_i; mu_k, exp(logvar_k)) summed over the dimensions, for
// n samples z (n x L) and m components stats (m x 2L): a mixture's terms, with gradients
// into both. The VampPrior's log p(z) is log_mean_exp of a row's m terms.
// block > 0: z and the components come in blocks of `block` rows (n = m, a multiple of
// block), and sample i is paired only with the components of its own block: (n, block).
// per_dimension: each dimension's term alone, (n*L, m) (or (n*L, block)), row i*L + j.
Var gaussian_log_density_pairs(Graph& g, Var z, Var component_stats, int block = 0, bool per_dimension = false);

// Per row: an estimate of the total correlation of the aggregate posterior q(z) at the
// sample z_i, TC_i = log q(z_i) - sum_j log q(z_ij), from the block B of M = `block` rows
// holding row i (rows come in consecutive blocks; block must divide them):
//   log q(z_i)  ~ log (1/M) sum_{r in B} q(z_i | x_r)
//   log q(z_ij) ~ log (1/M) sum_{r in B} q(z_ij | x_r)
// Chen, Li, Grosse & Duvenaud 2018 ("Isolating Sources of Disentanglement in VAEs")
// normalise both by 1/(N M) instead (minibatch-weighted sampling, N the training set's
// size): that moves TC_i by the constant (L - 1) log N, so the gradient is theirs, while
// this value reads 0 where every posterior is the same (a collapsed q(z|x)), where theirs
// reads (L - 1) log N. Gradients flow into the sample (and through it into its
// statistics) and into every row's statistics. beta-TCVAE adds (tc_beta - 1) * TC.
Var total_correlation(Graph& g, const GaussianSample& sample, Var stats, int block);

// The single-sample ELBO's terms averaged over each image's k samples, for logs (no
// gradient flows through them): recon[i] = mean_t nll, kl[i] = mean_t (-logw - nll),
// the estimate of KL(q || p) that log p(z) - log q(z|x) gives.
struct SampleMeans {
  Var recon, kl;
};
SampleMeans sample_means(Graph& g, Var nll, Var logw, int k);

}  // namespace elbo
