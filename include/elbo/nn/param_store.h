// All parameters of a replica live in one contiguous device buffer, their gradients
// in another of the same layout. Layers register named, shaped slices before
// allocate(); afterwards they address their slice by offset. Broadcast of initial
// weights, gradient all-reduce, clipping, the fused optimiser and checkpoints then
// each touch one buffer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "elbo/backend.h"

namespace elbo {

struct ParamSlice {
  std::string name;            // "encoder.0.weight"
  std::vector<int64_t> shape;  // PyTorch conventions: Linear weight is [out, in]
  size_t offset = 0;           // into the flat buffers
  size_t size = 0;
  int64_t fan_in = 1;          // for initialisation
};

class ParamStore {
 public:
  // Returns the slice's index. Only before allocate().
  int add(const std::string& name, std::vector<int64_t> shape, int64_t fan_in);
  // Allocates params and grads on the backend and initialises the parameters
  // (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the counter RNG, like PyTorch's Linear).
  void allocate(Backend& backend, uint64_t seed);

  size_t total() const { return total_; }
  const std::vector<ParamSlice>& slices() const { return slices_; }
  const ParamSlice& slice(int i) const { return slices_[i]; }
  float* param(int i) { return params_.data() + slices_[i].offset; }
  float* grad(int i) { return grads_.data() + slices_[i].offset; }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  bool allocated() const { return params_.size() == total_ && total_ > 0; }

 private:
  std::vector<ParamSlice> slices_;
  size_t total_ = 0;
  DeviceBuffer params_, grads_;
};

}  // namespace elbo
