// The residual cell of hierarchical VAEs (NVAE's BN-Swish-Conv cell with group norm in
// place of batch norm; VDVAE's scaled residual branch), composed of graph layers, so its
// backward is theirs:
//   y = x + branch_scale * conv2(act(norm2(conv1(act(norm1(x))))))
// conv1: channels -> hidden, conv2: hidden -> channels, both kernel x kernel, stride 1,
// "same" padding; the norms only with groups > 0. On a graph that recomputes layers
// (Graph::set_recompute_layers), a cell is one recomputation segment: of its tensors only
// x and y are kept for backward.
#pragma once
#include <optional>
#include <string>

#include "elbo/nn/conv2d.h"
#include "elbo/nn/norm.h"

namespace elbo {

struct ResidualCellOptions {
  int hidden = 0;  // the bottleneck's channels; 0: as many as the cell's
  int kernel = 3;  // odd
  Activation act = Activation::kSwish;
  int groups = 0;  // > 0: group norm with this many groups before each activation
  bool weight_norm = false;
  // conv2's initial weight and bias times this: 0 (zero init) makes the cell the identity
  // at init, VDVAE uses 1/sqrt(number of cells), so deep stacks start stable.
  float last_init_scale = 1.0f;
  float branch_scale = 1.0f;  // a fixed factor on the branch (1: none recorded)
};

class ResidualCell {
 public:
  // Parameters "<name>.norm1", "<name>.conv1", "<name>.norm2", "<name>.conv2".
  ResidualCell(ParamStore& store, const std::string& name, int channels,
               const ResidualCellOptions& options = ResidualCellOptions());
  // x: (N, channels, H, W); returns the same shape.
  Var operator()(Graph& g, Var x) const;

 private:
  ResidualCellOptions options_;
  std::optional<GroupNorm> norm1_, norm2_;
  std::optional<Conv2d> conv1_, conv2_;
};

}  // namespace elbo
