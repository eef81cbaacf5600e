// The pictures users look at: <run.dir>/samples.png (decoded prior samples, the
// mean of p(x|z) for z ~ N(0, I)) and <run.dir>/reconstructions.png (rows of inputs
// alternating with their reconstructions from the posterior mean). Rank 0 only.
#pragma once
#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/data/shard_set.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/models/vae_model.h"

namespace elbo {

void write_sample_grids(const Config& config, const MpiContext& mpi, Backend& be, VaeModel& model,
                        const ShardSetInfo& train_data);

}  // namespace elbo
