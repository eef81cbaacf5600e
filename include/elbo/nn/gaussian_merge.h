// Ladder VAE's precision-weighted merge (Sønderby et al. 2016) of two diagonal Gaussians
// as a graph node: the posterior of a group of a hierarchical VAE combines the bottom-up
// estimate a = (mu | logvar) from the data with the top-down prior b: precisions add,
// means are averaged with precision weights (kernels/math.h gaussian_merge). Gradients
// flow into both.
#pragma once
#include "elbo/nn/graph.h"

namespace elbo {

// a, b: rows x 2L = (mu | logvar); returns their merge, rows x 2L.
Var gaussian_merge(Graph& g, Var a, Var b);

}  // namespace elbo
