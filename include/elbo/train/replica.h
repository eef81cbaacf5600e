// One rank's replica: its backend (device chosen by node-local rank), its model,
// and the communicator that keeps it identical to the others.
#pragma once
#include <memory>

#include "elbo/backend.h"
#include "elbo/config.h"
#include "elbo/dist/communicator.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/models/vae_model.h"

namespace elbo {

struct Replica {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<VaeModel> model;
  std::unique_ptr<Communicator> comm;
};

// The device of this rank: train.device (auto: CUDA when a GPU is visible), GPU
// chosen as local_rank % visible GPUs.
Device choose_device(const Config& config, const MpiContext& mpi);

// Builds backend, model and communicator; rank 0's initial parameters are broadcast.
// sample: the shape of one input, (1, C, H, W) (see sample_shape_of in data/shard_set.h).
Replica make_replica(const Config& config, MpiContext& mpi, Shape sample);

}  // namespace elbo
