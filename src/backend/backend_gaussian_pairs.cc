// The defaults of the optional ops on pairs of diagonal Gaussians (distribution_kernels.h: the KL
// between them, the precision-weighted merge, the sampled log-density ratio, the bound on
// a log-variance): a backend
// without them fails loudly, naming the op, when a hierarchical model is recorded on it.
#include "elbo/distribution_kernels.h"

namespace elbo {
void DistributionKernels::kl_gaussians_forward(float*, const float*, const float*, int, int) {
  fail_missing_kernel(name(), "kl_gaussians_forward");
}
void DistributionKernels::kl_gaussians_backward(float*, float*, const float*, const float*, int, int, Weight) {
  fail_missing_kernel(name(), "kl_gaussians_backward");
}
void DistributionKernels::gaussian_merge_forward(float*, const float*, const float*, int, int) {
  fail_missing_kernel(name(), "gaussian_merge_forward");
}
void DistributionKernels::gaussian_merge_backward(float*, float*, const float*, const float*, const float*, int, int) {
  fail_missing_kernel(name(), "gaussian_merge_backward");
}
void DistributionKernels::gaussian_log_ratio_forward(float*, const float*, const float*, const float*, const float*,
                                                     int, int) {
  fail_missing_kernel(name(), "gaussian_log_ratio_forward");
}
void DistributionKernels::gaussian_log_ratio_backward(float*, float*, float*, const float*, const float*, int, int,
                                                      Weight) {
  fail_missing_kernel(name(), "gaussian_log_ratio_backward");
}
void DistributionKernels::bound_logvar_forward(float*, const float*, int, int, float, float) {
  fail_missing_kernel(name(), "bound_logvar_forward");
}
void DistributionKernels::bound_logvar_backward(float*, const float*, const float*, int, int, float, float) {
  fail_missing_kernel(name(), "bound_logvar_backward");
}

}  // namespace elbo
