// Fully connected layer with a fused activation, y = act(x W^T + b), as a graph node.
// Parameters are registered in the store under PyTorch's nn.Linear names and shapes
// ("<name>.weight" [out, in], "<name>.bias" [out]) and initialised like it.
// The activation's derivative comes from the output where the output determines it;
// the others (swish, softplus, gelu: act_grad_needs_input) are recorded as a separate
// activation node after the layer, which keeps its input. WeightOptions: weight norm,
// initial scale (nn/weight_norm.h).
#pragma once
#include <string>

#include "elbo/nn/graph.h"
#include "elbo/nn/weight_norm.h"

namespace elbo {

class Linear {
 public:
  Linear(ParamStore& store, const std::string& name, int in, int out, Activation act = Activation::kIdentity,
         const WeightOptions& options = WeightOptions());
  // Records the layer on x (rows x in); returns its output (rows x out).
  Var operator()(Graph& g, Var x) const;

  int in() const { return in_; }
  int out() const { return out_; }

 private:
  int in_, out_;
  Activation act_;
  int w_, b_, g_ = -1;  // g_: weight norm's norms, -1 without
};

}  // namespace elbo
