// A bound on the variance of a diagonal Gaussian that a network predicts, as a graph
// node: a soft clamp of each log-variance and a floor under each standard deviation
// (kernels/math.h bounded_logvar; NVAE's soft_clamp5 and its sigma + 0.01). Hierarchical
// VAEs apply it to every prior and posterior their towers produce, so that no KL between
// two groups' Gaussians can reach infinity however far training strays.
#pragma once
#include "elbo/nn/graph.h"

namespace elbo {

struct VarianceBound {
  float logvar_clamp = 0.0f;  // C: log-variances soft-clamped into (-C, C); 0: no clamp
  float sigma_floor = 0.0f;   // f: standard deviations exp(logvar / 2) + f; 0: no floor
  bool active() const { return logvar_clamp > 0.0f || sigma_floor > 0.0f; }
};

// stats: rows x 2L = (mu | logvar); returns (mu | bounded logvar), or stats itself when
// the bound is off. Gradients flow into stats.
Var bound_variance(Graph& g, Var stats, const VarianceBound& bound);

}  // namespace elbo
