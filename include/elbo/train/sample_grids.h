// The pictures users look at, as PNG grids (rank 0 only):
//   prior samples      an n x n grid of E[p(x|z)] for z ~ N(0, I) (noise keyed by the seed)
//   reconstructions    rows of the first test images (training images when there is no
//                      test set) alternating with their reconstructions from the
//                      posterior mean, n per row
//   interpolations     a row per pair of images: the decoded path between their codes
// At the end of training the first two go to <run.dir>/samples.png and
// reconstructions.png; `elbo sample`, `reconstruct` and `interpolate` write one where
// --out says.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/models/vae_model.h"

namespace elbo {

// count prior samples of `model` (images shaped like `shape`'s) in rows of cols -> PNG at
// path. Conditional models: every sample of class `cls`, or with cls < 0 grid row r of
// class r mod classes (the usual class-conditional figure).
void write_prior_samples_png(const std::string& path, int count, int cols, uint64_t seed, Backend& be,
                             VaeModel& model, const ShardSetInfo& shape, int cls = -1);

// Up to n/2 rows of n images of `source`, each row followed by its reconstructions -> PNG.
void write_reconstructions_png(const std::string& path, int n, const ShardSetInfo& source, bool scale, Backend& be,
                               VaeModel& model);

// Hierarchical models (`elbo reconstruct --top-groups`): a row of the first n images of
// `source`, then a row per K in `top_groups` of their reconstructions with groups 0..K-1
// from the posterior and the others sampled from their priors (NVAE's and VDVAE's figure:
// K = 0 are prior samples, K = kl_groups() the reconstructions) -> PNG.
void write_top_group_reconstructions_png(const std::string& path, int n, const std::vector<int>& top_groups,
                                         const ShardSetInfo& source, bool scale, Backend& be, VaeModel& model);

// Latent interpolations (`elbo interpolate`), one row per pair (a, b) of images of
// `source`: image a, E[p(x|z)] at `steps` points z from a's posterior mean (t = 0) to
// b's (t = 1), linearly or with spherical (slerp), then image b. The second and the
// next-to-last pictures are the reconstructions of a and b. Conditional models: the
// classes' one-hot vectors are mixed linearly along the way.
void write_interpolations_png(const std::string& path, const std::vector<std::pair<int64_t, int64_t>>& pairs,
                              int steps, bool spherical, const ShardSetInfo& source, bool scale, Backend& be,
                              VaeModel& model);

// End of training: both grids into run.dir, n = train.sample_grid (none when 0). Rank 0 only.
void write_sample_grids(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                        const ShardSetInfo& train_data);

}  // namespace elbo
