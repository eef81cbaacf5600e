// Weight normalisation (Salimans & Kingma 2016) for Linear and Conv2d: each output
// unit's weight vector is w = g * v / ||v||, so its direction (v) and its length (g) are
// learned separately; like group norm it needs no batch statistics, so a step gives the
// same gradients whatever the split of the batch over ranks (batch norm would not).
// Parameters follow torch.nn.utils.weight_norm: "<name>.weight_g" [out, 1, ...] and
// "<name>.weight_v" (the weight's shape); g starts at ||v||, so w starts as v.
#pragma once
#include <string>
#include <vector>

#include "elbo/nn/graph.h"

namespace elbo {

// How a Linear or Conv2d layer holds its weight.
struct WeightOptions {
  bool weight_norm = false;
  // The layer's initial weight and bias times this: 0 makes the layer output zeros at
  // init (the last layer of a residual branch, so the cell starts as the identity);
  // VDVAE scales it by 1/sqrt(depth). With weight norm it scales g (v stays random).
  float init_scale = 1.0f;
};

// A layer's weight in the store: `w` the plain weight (or v under weight norm), `g` the
// norms' slice, -1 without weight norm.
struct WeightSlices {
  int w = -1, g = -1;
};
// Registers "<name>.weight" [shape] (or weight_g and weight_v) with PyTorch's fan-in init.
WeightSlices add_weight(ParamStore& store, const std::string& name, const std::vector<int64_t>& shape, int64_t fan_in,
                        const WeightOptions& options);

// Records w = g * v / ||v|| per row of the store's v (rows x cols, rows = output units) as
// a graph tensor; its backward adds into the gradients of v and g.
Var weight_norm(Graph& g, int v_slice, int g_slice, int rows, int cols);

}  // namespace elbo
