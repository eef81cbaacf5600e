// Convolution layers (NCHW) as graph nodes, on the backends' conv ops (oneDNN on the
// CPU, cuDNN on the GPU). Parameters follow PyTorch's names, layouts and
// initialisation: Conv2d weight [c_out, c_in, k, k] and bias [c_out]; ConvTranspose2d
// weight [c_in, c_out, k, k], without bias (PyTorch's bias=False: the decoder's
// following layer carries one). Activations whose derivative needs their input (swish,
// softplus, gelu) follow the conv as their own node, as in Linear.
#pragma once
#include <string>

#include "elbo/nn/graph.h"
#include "elbo/nn/weight_norm.h"

namespace elbo {

// y = act(conv(x, w) + b), same stride and zero padding on both axes; WeightOptions:
// weight norm per output channel, initial scale (nn/weight_norm.h).
class Conv2d {
 public:
  Conv2d(ParamStore& store, const std::string& name, int c_in, int c_out, int kernel, int stride, int pad,
         Activation act = Activation::kIdentity, const WeightOptions& options = WeightOptions());
  Var operator()(Graph& g, Var x) const;

 private:
  int c_in_, c_out_, kernel_, stride_, pad_;
  Activation act_;
  int w_, b_, g_ = -1;  // g_: weight norm's norms, -1 without
};

// y = act(conv_transpose(x, w)): the gradient of a Conv2d with respect to its input, as a
// layer; kernel 4, stride 2, padding 1 doubles H and W. Output size
// (H - 1) * stride - 2 * pad + kernel.
class ConvTranspose2d {
 public:
  ConvTranspose2d(ParamStore& store, const std::string& name, int c_in, int c_out, int kernel, int stride, int pad,
                  Activation act = Activation::kIdentity);
  Var operator()(Graph& g, Var x) const;

 private:
  int c_in_, c_out_, kernel_, stride_, pad_;
  Activation act_;
  int w_;
};

}  // namespace elbo
