#include "elbo/models/vae_model.h"

#include <cmath>

#include "elbo/error.h"
#include "elbo/kernels/philox.h"

namespace elbo {

void VaeModel::sample_prior(Backend& be, float* z, int rows, uint64_t seed) {
  (void)be;
  const int latent = latent_dim();
  const float t = sample_temperature(0);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < latent; ++j)
      z[size_t(r) * latent + j] = t * philox_normal(seed, kRngSample, uint64_t(r), uint32_t(j));
}

void VaeModel::set_sample_temperatures(const std::vector<float>& temperatures) {
  const size_t groups = size_t(kl_groups());
  ELBO_CHECK(temperatures.size() == 1 || temperatures.size() == groups,
             "--temperature: " << temperatures.size() << " values for a model with " << groups
                               << " stochastic group" << (groups == 1 ? "" : "s") << " (give one value"
                               << (groups == 1 ? "" : ", for every group, or one per group, top first") << ")");
  for (float t : temperatures)
    ELBO_CHECK(std::isfinite(t) && t > 0.0f, "--temperature: " << t << " is not a positive number");
  temperatures_ = temperatures;
}

float VaeModel::sample_temperature(int group) const {
  return temperatures_.size() == 1 ? temperatures_[0] : temperatures_.at(size_t(group));
}

void VaeModel::reconstruct_top_groups(Backend& be, float* out, const float* x, int rows, int groups) {
  (void)be, (void)out, (void)x, (void)rows, (void)groups;
  ELBO_FAIL("--top-groups: model.type " << type() << " has a single stochastic group; reconstructions from the top "
                                        "groups need a hierarchical model (model.type: hvae)");
}

}  // namespace elbo
