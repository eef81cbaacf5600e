// What every backend shares: the checks of a convolution's shape, and the optional
// ops' defaults, which fail loudly rather than compute nothing.
#include "elbo/backend.h"

#include "elbo/error.h"

namespace elbo {

void fail_missing_op(const Backend& be, const char* op) { fail_missing_kernel(be.name(), op); }

void fail_missing_kernel(const std::string& backend, const char* op) {
  ELBO_FAIL("the " << backend << " backend has no " << op << " op, so a model that needs it cannot run there"
                     " (choose another device, or a model without it)");
}

void check_conv_shape(const ConvShape& s, const char* op) {
  ELBO_CHECK(s.n >= 0 && s.c_in > 0 && s.h > 0 && s.w > 0 && s.c_out > 0 && s.kh > 0 && s.kw > 0,
             op << ": sizes must be positive (n may be 0): n=" << s.n << " c_in=" << s.c_in << " h=" << s.h
                << " w=" << s.w << " c_out=" << s.c_out << " kh=" << s.kh << " kw=" << s.kw);
  ELBO_CHECK(s.stride >= 1 && s.pad >= 0, op << ": stride must be >= 1 and pad >= 0, got stride=" << s.stride
                                              << " pad=" << s.pad);
  ELBO_CHECK(s.h + 2 * s.pad >= s.kh && s.w + 2 * s.pad >= s.kw,
             op << ": the " << s.kh << "x" << s.kw << " kernel is larger than the padded " << s.h + 2 * s.pad << "x"
                << s.w + 2 * s.pad << " input");
  ELBO_CHECK(s.x_block >= 1 && s.c_in % s.x_block == 0 && s.y_block >= 1 && s.c_out % s.y_block == 0,
             op << ": channel blocks must divide the channels: x_block=" << s.x_block << " for c_in=" << s.c_in
                << ", y_block=" << s.y_block << " for c_out=" << s.c_out);
}

void DistributionKernels::dlogistic_nll_forward(float*, const float*, const float*, int, int) {
  fail_missing_kernel(name(), "dlogistic_nll_forward");
}
void DistributionKernels::dlogistic_nll_backward(float*, const float*, const float*, int, int, Weight) {
  fail_missing_kernel(name(), "dlogistic_nll_backward");
}
void DistributionKernels::kl_group_weights(float*, const float*, const float*, int, const KlGroupRule&) {
  fail_missing_kernel(name(), "kl_group_weights");
}
void Backend::conv2d_forward(float*, const float*, const float*, const float*, const ConvShape&) {
  fail_missing_op(*this, "conv2d_forward");
}
void Backend::conv2d_backward_data(float*, const float*, const float*, const ConvShape&, float) {
  fail_missing_op(*this, "conv2d_backward_data");
}
void Backend::conv2d_backward_weights(float*, float*, const float*, const float*, const ConvShape&) {
  fail_missing_op(*this, "conv2d_backward_weights");
}

}  // namespace elbo
