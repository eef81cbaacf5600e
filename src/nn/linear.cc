#include "elbo/nn/linear.h"

namespace elbo {

Linear::Linear(ParamStore& store, const std::string& name, int in, int out, Activation act)
    : store_(&store), in_(in), out_(out), act_(act) {
  w_ = store.add(name + ".weight", {out, in}, in);
  b_ = store.add(name + ".bias", {out}, in);
}

void Linear::ensure_rows(Backend& be, int rows) {
  // Buffers only grow, and only when a bigger batch arrives: the steady state
  // allocates nothing (a requirement for CUDA graph capture).
  if (rows <= capacity_rows_) return;
  y_ = DeviceBuffer(&be, size_t(rows) * out_);
  dy_ = DeviceBuffer(&be, size_t(rows) * out_);
  capacity_rows_ = rows;
}

const float* Linear::forward(Backend& be, const float* x, int rows) {
  ensure_rows(be, rows);
  be.gemm(false, true, rows, out_, in_, 1.0f, x, store_->param(w_), 0.0f, y_.data());
  be.bias_act_forward(y_.data(), store_->param(b_), rows, out_, act_);
  return y_.data();
}

void Linear::backward(Backend& be, const float* x, float* dy, float* dx, int rows) {
  if (act_ != Activation::kIdentity) be.act_backward(dy, dy, y_.data(), size_t(rows) * out_, act_);
  // dW += dy^T x ; db += column sums of dy ; dx = dy W
  const GemmArgs weight_grad{true, false, out_, in_, rows, 1.0f, dy, x, 1.0f, store_->grad(w_)};
  if (dx)
    be.gemm_pair(weight_grad, GemmArgs{false, false, rows, in_, out_, 1.0f, dy, store_->param(w_), 0.0f, dx});
  else
    be.gemm(weight_grad);
  be.bias_grad(store_->grad(b_), dy, rows, out_);
}

}  // namespace elbo
