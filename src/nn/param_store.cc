#include "elbo/nn/param_store.h"

#include <algorithm>
#include <cmath>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {

int ParamStore::add(const std::string& name, std::vector<int64_t> shape, int64_t fan_in, ParamInit init) {
  ELBO_CHECK(!allocated(), "parameter '" << name << "' registered after allocation");
  ELBO_CHECK(init.kind != ParamInit::Kind::kRowNorms || (init.of >= 0 && size_t(init.of) < slices_.size()),
             "parameter '" << name << "': initialised from the norms of slice " << init.of << ", not registered yet");
  ParamSlice s;
  s.name = name;
  s.size = 1;
  for (int64_t d : shape) s.size *= size_t(d);
  s.shape = std::move(shape);
  s.offset = total_;
  s.fan_in = fan_in;
  s.init = init;
  if (init.kind == ParamInit::Kind::kRowNorms) {
    const std::vector<int64_t>& of = slices_[size_t(init.of)].shape;
    ELBO_CHECK(!of.empty() && size_t(of[0]) == s.size, "parameter '" << name << "': " << s.size << " values for the "
                                                                      << (of.empty() ? 0 : of[0]) << " rows of '"
                                                                      << slices_[size_t(init.of)].name << "'");
  }
  total_ += s.size;
  slices_.push_back(std::move(s));
  return int(slices_.size()) - 1;
}

void ParamStore::allocate(Backend& backend, uint64_t seed) {
  params_ = DeviceBuffer(&backend, total_);
  grads_ = DeviceBuffer(&backend, total_ + 1);  // + the step's health (step_health())
  backend.fill(grads_.data(), grads_.size(), 0.0f);
  std::vector<float> host(total_);
  for (size_t i = 0; i < slices_.size(); ++i) {
    const ParamSlice& s = slices_[i];
    float* p = host.data() + s.offset;
    switch (s.init.kind) {
      case ParamInit::Kind::kUniform: {
        const float bound = 1.0f / std::sqrt(float(s.fan_in));
        for (size_t j = 0; j < s.size; ++j) {
          float u = philox_uniform(seed, kRngInit, i, uint32_t(j));
          p[j] = (2.0f * u - 1.0f) * bound * s.init.value;
        }
        break;
      }
      case ParamInit::Kind::kConstant:
        std::fill(p, p + s.size, s.init.value);
        break;
      case ParamInit::Kind::kRowNorms: {  // the source slice came earlier: its values are final
        const ParamSlice& of = slices_[size_t(s.init.of)];
        const size_t cols = of.size / s.size;
        for (size_t r = 0; r < s.size; ++r) {
          double sq = 0.0;
          for (size_t j = 0; j < cols; ++j) sq += double(host[of.offset + r * cols + j]) * host[of.offset + r * cols + j];
          p[r] = float(std::sqrt(sq)) * s.init.value;
        }
        break;
      }
    }
  }
  backend.copy_to_device(params_.data(), host.data(), total_);
  backend.synchronize();
}

}  // namespace elbo
