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

// How allocate() initialises a slice. Default: PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
struct ParamInit {
  enum class Kind { kUniform, kConstant, kRowNorms };
  Kind kind = Kind::kUniform;
  // kUniform: a factor on the bound (0: zeros, the last layer of a residual branch);
  // kConstant: the value (group norm's gamma 1, beta 0); kRowNorms: a factor on the norms.
  float value = 1.0f;
  // kRowNorms: a slice registered earlier whose rows' L2 norms (rows = its first dimension)
  // this slice holds: weight norm's g starts at ||v||, so that w starts as v.
  int of = -1;
  static ParamInit uniform(float scale = 1.0f) { return {Kind::kUniform, scale, -1}; }
  static ParamInit constant(float value) { return {Kind::kConstant, value, -1}; }
  static ParamInit row_norms(int slice, float scale = 1.0f) { return {Kind::kRowNorms, scale, slice}; }
};

struct ParamSlice {
  std::string name;            // "encoder.0.weight"
  std::vector<int64_t> shape;  // PyTorch conventions: Linear weight is [out, in]
  size_t offset = 0;           // into the flat buffers
  size_t size = 0;
  int64_t fan_in = 1;          // for initialisation
  ParamInit init;
};

class ParamStore {
 public:
  // Returns the slice's index. Only before allocate().
  int add(const std::string& name, std::vector<int64_t> shape, int64_t fan_in, ParamInit init = ParamInit());
  // Allocates params and grads on the backend and initialises the parameters by their
  // ParamInit (uniform draws from the counter RNG, like PyTorch's Linear, by default).
  void allocate(Backend& backend, uint64_t seed);

  size_t total() const { return total_; }
  const std::vector<ParamSlice>& slices() const { return slices_; }
  const ParamSlice& slice(int i) const { return slices_[i]; }
  float* param(int i) { return params_.data() + slices_[i].offset; }
  float* grad(int i) { return grads_.data() + slices_[i].offset; }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  // One float after the gradients: the training step's health, 0 or NaN on each rank
  // (its input or loss not finite), which the gradient all-reduce sums with the
  // gradients, so every rank learns that some rank's step went wrong without another
  // collective (kernels/math.h, decide_update). The reducer covers reduced_size() floats.
  float* step_health() { return grads_.data() + total_; }
  size_t reduced_size() const { return total_ + 1; }
  bool allocated() const { return params_.size() == total_ && total_ > 0; }

 private:
  std::vector<ParamSlice> slices_;
  size_t total_ = 0;
  DeviceBuffer params_, grads_;
};

}  // namespace elbo
