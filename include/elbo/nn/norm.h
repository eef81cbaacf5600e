// Group normalisation (Wu & He 2018) as a graph layer: per sample, the channels fall
// into `groups` groups, each normalised by its own mean and variance over its channels
// and pixels, then scaled and shifted per channel (gamma, beta).
// Why group norm and not batch norm: batch statistics differ with the batch's split over
// ranks, so batch norm would need them all-reduced in every layer to keep 1 rank = N
// ranks; group norm's statistics are per sample (docs/architecture.md).
#pragma once
#include <string>

#include "elbo/nn/graph.h"

namespace elbo {

class GroupNorm {
 public:
  // Parameters as PyTorch's nn.GroupNorm: "<name>.weight" (gamma, starts at 1) and
  // "<name>.bias" (beta, starts at 0), [channels] each. groups must divide channels.
  GroupNorm(ParamStore& store, const std::string& name, int channels, int groups, float eps = 1e-5f);
  // x: (N, C, H, W), or (N, C) (one pixel).
  Var operator()(Graph& g, Var x) const;

 private:
  int channels_, groups_;
  float eps_;
  int gamma_, beta_;
};

}  // namespace elbo
