// The pictures users look at, as PNG grids (rank 0 only):
//   prior samples      an n x n grid of E[p(x|z)] for z ~ N(0, I) (noise keyed by the seed)
//   reconstructions    rows of the first test images (training images when there is no
//                      test set) alternating with their reconstructions from the
//                      posterior mean, n per row
// At the end of training both go to <run.dir>/samples.png and reconstructions.png;
// `elbo sample` and `elbo reconstruct` write one of them where --out says.
#pragma once
#include <string>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/models/vae_model.h"

namespace elbo {

// n x n prior samples of `model` (images shaped like `shape`'s) -> PNG at path.
// Conditional models: every sample of class `cls`, or with cls < 0 grid row r of class
// r mod classes (the usual class-conditional figure).
void write_prior_samples_png(const std::string& path, int n, uint64_t seed, Backend& be, VaeModel& model,
                             const ShardSetInfo& shape, int cls = -1);

// Up to n/2 rows of n images of `source`, each row followed by its reconstructions -> PNG.
void write_reconstructions_png(const std::string& path, int n, const ShardSetInfo& source, bool scale, Backend& be,
                               VaeModel& model);

// End of training: both grids into run.dir, n = train.sample_grid (none when 0). Rank 0 only.
void write_sample_grids(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                        const ShardSetInfo& train_data);

}  // namespace elbo
