// Adam's moments as checkpoints hold them: whole (every parameter) on the host, whatever
// the optimizer's sharding (ZeRO-1, dist.zero, optim/adam.h). A checkpoint therefore
// does not depend on the world size or on dist.zero: it resumes on any number of ranks,
// sharded or not. The whole moments exist on the host of rank 0 only, and only while a
// checkpoint is written or read: the device keeps each rank's shard.
#pragma once
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/optim/adam.h"

namespace elbo {

struct HostMoments {
  std::vector<float> m, v;  // n floats each, or empty: no moments (before the first step)
  bool empty() const { return m.empty(); }
};

// Collective: rank 0 gets the whole moments, the other ranks an empty result. Unsharded,
// rank 0 copies its own; sharded, every rank sends its shard to rank 0 (MPI_Gatherv).
HostMoments gather_moments(const MpiContext& mpi, Backend& be, Adam& adam);

// Collective: rank 0 passes the whole moments it read (empty: none, the moments stay as
// they are); every rank stores its shard of them (all of them when unsharded).
void scatter_moments(const MpiContext& mpi, Backend& be, Adam& adam, const HostMoments& root_moments);

// The optimizer's device memory per rank, for the line after the start line with
// dist.zero: "optimizer state 1.20 MB per rank (ZeRO-1: rank 0's shard, 1/4 of 4.80 MB)";
// unsharded "optimizer state 4.80 MB per rank". Rank 0's shard is the largest.
std::string describe_optimizer_memory(const Adam& adam, int world);

}  // namespace elbo
