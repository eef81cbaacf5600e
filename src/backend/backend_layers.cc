// The defaults of the optional layer ops of backend.h (group norm, weight norm,
// resampling, embedding, ...): a backend without them fails loudly, naming the op.
#include "elbo/backend.h"

namespace elbo {
void Backend::act_backward_from_input(float*, const float*, const float*, size_t, Activation) {
  fail_missing_op(*this, "act_backward_from_input");
}
void Backend::copy_columns(float*, size_t, const float*, size_t, int, size_t, bool) { fail_missing_op(*this, "copy_columns"); }
void Backend::upsample2x(float*, const float*, int, int, int, int, float, bool) { fail_missing_op(*this, "upsample2x"); }
void Backend::sum_pool2x(float*, const float*, int, int, int, int, float, bool) { fail_missing_op(*this, "sum_pool2x"); }
void Backend::group_norm_forward(float*, float*, const float*, const float*, const float*, int, int, int, int, float) {
  fail_missing_op(*this, "group_norm_forward");
}
void Backend::group_norm_backward(float*, float*, float*, const float*, const float*, const float*, const float*, int,
                                  int, int, int, bool) {
  fail_missing_op(*this, "group_norm_backward");
}
void Backend::weight_norm_forward(float*, float*, const float*, const float*, int, int) {
  fail_missing_op(*this, "weight_norm_forward");
}
void Backend::weight_norm_backward(float*, float*, const float*, const float*, const float*, const float*, int, int) {
  fail_missing_op(*this, "weight_norm_backward");
}
void Backend::embedding_forward(float*, const float*, const float*, int, int, int) {
  fail_missing_op(*this, "embedding_forward");
}
void Backend::embedding_backward(float*, const float*, const float*, int, int, int) {
  fail_missing_op(*this, "embedding_backward");
}

}  // namespace elbo
