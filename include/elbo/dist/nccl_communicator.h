// NCCL data plane for CUDA replicas: one communicator for the job, its unique id
// created by rank 0 and broadcast over MPI; collectives on a dedicated stream.
// Asynchronous errors and timeouts are polled (ncclCommGetAsyncError) and turn into
// an elbo::Error on every rank after ncclCommAbort, never a hang.
#pragma once
#include <memory>

#include "elbo/dist/communicator.h"

namespace elbo {

#if defined(ELBO_WITH_CUDA)
std::unique_ptr<Communicator> make_nccl_communicator(MpiContext& mpi, Backend& backend, double timeout_s);
// ncclGetVersion of the loaded library (2.30.0 = 23000).
int nccl_runtime_version();
#endif

}  // namespace elbo
