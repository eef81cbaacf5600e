// Fully connected layer with a fused activation: y = act(x W^T + b).
// Keeps its output (the activation's derivative is computed from it) and reads its
// input again in backward, so the caller must keep x alive until backward.
#pragma once
#include <string>

#include "elbo/backend.h"
#include "elbo/nn/param_store.h"

namespace elbo {

class Linear {
 public:
  Linear(ParamStore& store, const std::string& name, int in, int out, Activation act);

  // y = act(x W^T + b) for `rows` rows; returns the layer's output buffer.
  const float* forward(Backend& be, const float* x, int rows);
  // dy: gradient w.r.t. the output (overwritten: becomes the pre-activation gradient).
  // Accumulates dW and db into the store; writes dx (rows x in) unless dx is null.
  void backward(Backend& be, const float* x, float* dy, float* dx, int rows);

  // Scratch for the caller's gradient w.r.t. this layer's output (rows x out).
  float* grad_output() { return dy_.data(); }
  const float* output() const { return y_.data(); }
  int in() const { return in_; }
  int out() const { return out_; }
  // Offset of the layer's first parameter in the flat buffers (weight, then bias).
  size_t param_offset() const { return store_->slice(w_).offset; }

 private:
  void ensure_rows(Backend& be, int rows);

  ParamStore* store_;
  int in_, out_;
  Activation act_;
  int w_, b_;
  int capacity_rows_ = 0;
  DeviceBuffer y_, dy_;
};

}  // namespace elbo
