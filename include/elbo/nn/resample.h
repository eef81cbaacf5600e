// 2x resampling of NCHW images between the scales of a hierarchical model: the decoder
// goes up with nearest-neighbour upsampling, the encoder down with average pooling.
// Neither has parameters; each one's backward is the other's arithmetic (backend.h).
#pragma once
#include "elbo/nn/graph.h"

namespace elbo {

// (N, C, H, W) -> (N, C, 2H, 2W): every pixel copied into its 2x2 block.
Var upsample2x(Graph& g, Var x);
// (N, C, H, W) -> (N, C, H/2, W/2): the mean of each 2x2 block (H and W even).
Var avg_pool2x(Graph& g, Var x);

}  // namespace elbo
