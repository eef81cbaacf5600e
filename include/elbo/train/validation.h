// Validation during training (data.valid every train.valid_every steps): the negative
// ELBO of the first train.valid_images images of the validation set (all when 0), one
// fixed binarization and one fixed z sample per image, so two validations of the same
// parameters give the same number whatever the world size. Every rank evaluates its
// slice; the sums are all-reduced.
#pragma once
#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/models/vae_model.h"

namespace elbo {

struct ValidationResult {
  double recon = 0.0, kl = 0.0;  // means per image
  int64_t images = 0;
  double loss() const { return recon + kl; }
};

ValidationResult validate(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                          const ShardSetInfo& valid);

}  // namespace elbo
