#include "elbo/models/vae_model.h"

#include "elbo/kernels/philox.h"

namespace elbo {

void VaeModel::sample_prior(Backend& be, float* z, int rows, uint64_t seed) {
  (void)be;
  const int latent = latent_dim();
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < latent; ++j) z[size_t(r) * latent + j] = philox_normal(seed, kRngSample, uint64_t(r), uint32_t(j));
}

}  // namespace elbo
