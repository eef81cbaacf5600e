#include "elbo/nn/importance_bound.h"

#include "elbo/nn/distributions.h"
#include "elbo/nn/layers.h"

namespace elbo {

Var log_weight(Graph& g, Var nll, Var log_ratio) { return add(g, scale(g, nll, -1.0f), log_ratio); }

ImportanceBound importance_bound(Graph& g, Var nll, Var log_ratio, int k, const float* const* ratio_weight) {
  ImportanceBound b;
  Var logw;
  if (!ratio_weight) {
    logw = log_weight(g, nll, log_ratio);
    b.log_mean_weight = b.trained = log_mean_exp(g, logw, k);
  } else {
    Var neg_nll = scale(g, nll, -1.0f);
    b.trained = log_mean_exp(g, add(g, neg_nll, scale_by(g, log_ratio, ratio_weight)), k);
    // The bound itself, for logs: the same tensors, detached (no second backward path).
    logw = add(g, detach(g, neg_nll), detach(g, log_ratio));
    b.log_mean_weight = log_mean_exp(g, logw, k);
  }
  SampleMeans means = sample_means(g, nll, logw, k);
  b.recon = means.recon;
  b.kl = means.kl;
  return b;
}

}  // namespace elbo
