// A learned vector per class (label conditioning): row index[r] of a [classes, dim]
// table. The input holds class numbers stored as floats (N, 1), like the one-hot labels
// the data already carries, but costs one row instead of a GEMM. The backward adds each
// row's gradient into its class's row, deterministically (no atomics: backend.h).
#pragma once
#include <string>

#include "elbo/nn/graph.h"

namespace elbo {

class Embedding {
 public:
  // "<name>.weight" [classes, dim], initialised U(-1, 1) (PyTorch: N(0, 1), the same scale).
  Embedding(ParamStore& store, const std::string& name, int classes, int dim);
  // index: (N, 1) class numbers, never differentiated; returns (N, dim). A number outside
  // [0, classes) gives a zero row.
  Var operator()(Graph& g, Var index) const;

 private:
  int classes_, dim_, table_;
};

}  // namespace elbo
