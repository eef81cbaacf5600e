// The defaults of the optional ops on pairs of diagonal Gaussians (backend.h: the KL
// between them, the precision-weighted merge, the sampled log-density ratio, the bound on
// a log-variance): a backend
// without them fails loudly, naming the op, when a hierarchical model is recorded on it.
#include "elbo/backend.h"

namespace elbo {
void Backend::kl_gaussians_forward(float*, const float*, const float*, int, int) {
  fail_missing_op(*this, "kl_gaussians_forward");
}
void Backend::kl_gaussians_backward(float*, float*, const float*, const float*, int, int, Weight) {
  fail_missing_op(*this, "kl_gaussians_backward");
}
void Backend::gaussian_merge_forward(float*, const float*, const float*, int, int) {
  fail_missing_op(*this, "gaussian_merge_forward");
}
void Backend::gaussian_merge_backward(float*, float*, const float*, const float*, const float*, int, int) {
  fail_missing_op(*this, "gaussian_merge_backward");
}
void Backend::gaussian_log_ratio_forward(float*, const float*, const float*, const float*, const float*, int, int) {
  fail_missing_op(*this, "gaussian_log_ratio_forward");
}
void Backend::gaussian_log_ratio_backward(float*, float*, float*, const float*, const float*, int, int, Weight) {
  fail_missing_op(*this, "gaussian_log_ratio_backward");
}
void Backend::bound_logvar_forward(float*, const float*, int, int, float, float) {
  fail_missing_op(*this, "bound_logvar_forward");
}
void Backend::bound_logvar_backward(float*, const float*, const float*, int, int, float, float) {
  fail_missing_op(*this, "bound_logvar_backward");
}

}  // namespace elbo
