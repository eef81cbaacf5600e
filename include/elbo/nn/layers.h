// Structural and element-wise layers of the graph: each function records one node and
// returns its output. Gradients flow into every input that needs one, adding up where a
// tensor has several readers (Graph).
#pragma once
#include "elbo/nn/graph.h"

namespace elbo {

// A learned tensor: parameter slice `slice` of the store, seen as a tensor of `shape`
// (pseudo-inputs of a VampPrior, a learned scale; the leaves of gradient checks).
Var parameter(Graph& g, int slice, Shape shape);
// y = act(x), element-wise, any shape.
Var activation(Graph& g, Var x, Activation act);
// y = a + b (same shape): residual connections.
Var add(Graph& g, Var a, Var b);
// y = alpha * x: a residual branch's fixed scale.
Var scale(Graph& g, Var x, float alpha);
// y = f * x, f = **factor a device scalar read at every forward and backward (1 while
// *factor is null): a weight a schedule changes each step, as the IWAE warm-up's.
Var scale_by(Graph& g, Var x, const float* const* factor);
// y = x without a gradient back into x (PyTorch's detach): a logged term computed from
// tensors that are trained through another path.
Var detach(Graph& g, Var x);
// Columns [begin, begin + count) of every row of x (rows x D): mu of (mu | logvar).
Var columns(Graph& g, Var x, int begin, int count);
// [a | b] row by row (rows x (Da + Db)): conditioning inputs, skip features.
Var concat_columns(Graph& g, Var a, Var b);
// Along channels: (N, Ca, H, W) and (N, Cb, H, W) give (N, Ca + Cb, H, W); (N, Da) and
// (N, Db) give (N, Da + Db).
Var concat_channels(Graph& g, Var a, Var b);
// Row r of x repeated `times` times in a row (rows*times x D): one encoding, k samples.
Var repeat_rows(Graph& g, Var x, int times);

}  // namespace elbo
