#include "elbo/nn/param_store.h"

#include <cmath>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {

int ParamStore::add(const std::string& name, std::vector<int64_t> shape, int64_t fan_in) {
  ELBO_CHECK(!allocated(), "parameter '" << name << "' registered after allocation");
  ParamSlice s;
  s.name = name;
  s.size = 1;
  for (int64_t d : shape) s.size *= size_t(d);
  s.shape = std::move(shape);
  s.offset = total_;
  s.fan_in = fan_in;
  total_ += s.size;
  slices_.push_back(std::move(s));
  return int(slices_.size()) - 1;
}

void ParamStore::allocate(Backend& backend, uint64_t seed) {
  params_ = DeviceBuffer(&backend, total_);
  grads_ = DeviceBuffer(&backend, total_);
  std::vector<float> host(total_);
  for (size_t i = 0; i < slices_.size(); ++i) {
    const ParamSlice& s = slices_[i];
    const float bound = 1.0f / std::sqrt(float(s.fan_in));
    for (size_t j = 0; j < s.size; ++j) {
      float u = philox_uniform(seed, kRngInit, i, uint32_t(j));
      host[s.offset + j] = (2.0f * u - 1.0f) * bound;
    }
  }
  backend.copy_to_device(params_.data(), host.data(), total_);
  backend.synchronize();
}

}  // namespace elbo
