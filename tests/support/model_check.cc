#include "support/model_check.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "support/gradient_check.h"

namespace elbo {

void expect_whole_model_gradient(Backend& be, VaeModel& model, const std::vector<float>& x, int rows,
                                 const std::string& what, NoiseKey key, float tc_extra_weight) {
  ParamStore& ps = model.params();
  const float wr = 1.0f / rows, wk = 0.8f / rows;
  auto loss = [&] {
    model.forward(be, x.data(), rows, key);
    if (const float* lmw = model.trained_log_mean_weight_per_row()) return -wr * sum_of(lmw, size_t(rows));
    double s = wr * sum_of(model.recon_per_row(), size_t(rows)) + wk * sum_of(model.kl_per_row(), size_t(rows));
    if (const float* tc = model.tc_per_row()) s += wk * tc_extra_weight * sum_of(tc, size_t(rows));
    return s;
  };
  loss();
  be.fill(ps.grads(), ps.total(), 0.0f);
  size_t lowest_ready = ps.total();
  model.backward(be, x.data(), rows, wr, wk, [&](size_t offset) {
    EXPECT_LE(offset, lowest_ready) << "gradients must become final from the end of the buffer backwards";
    lowest_ready = offset;
  });
  EXPECT_EQ(lowest_ready, 0u);
  std::vector<float> params(ps.params(), ps.params() + ps.total());
  std::vector<float> grads(ps.grads(), ps.grads() + ps.total());
  auto param_loss = [&] {
    std::copy(params.begin(), params.end(), ps.params());
    return loss();
  };
  expect_gradient(params, grads, param_loss, what.c_str());
}

}  // namespace elbo
