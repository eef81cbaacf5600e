// MPI data plane. CPU replicas reduce their buffers directly (non-blocking
// MPI_Iallreduce for buckets); CUDA replicas stage through pinned host memory.
#pragma once
#include <memory>

#include "elbo/dist/communicator.h"

namespace elbo {

std::unique_ptr<Communicator> make_mpi_communicator(MpiContext& mpi, Backend& backend);

}  // namespace elbo
