#include "elbo/backend.h"
#include "elbo/dist/mpi_communicator.h"
#include "elbo/dist/nccl_communicator.h"
#include "elbo/error.h"

namespace elbo {

std::unique_ptr<Communicator> make_communicator(CommBackend kind, MpiContext& mpi, Backend& backend,
                                                double timeout_s) {
  const bool cuda = backend.device().is_cuda();
  if (kind == CommBackend::kAuto) kind = cuda ? CommBackend::kNccl : CommBackend::kMpi;
  if (kind == CommBackend::kMpi) return make_mpi_communicator(mpi, backend);
  ELBO_CHECK(cuda, "dist.backend: nccl needs CUDA replicas, but this replica runs on " << backend.device().str()
                                                                                       << " (use dist.backend: mpi)");
#if defined(ELBO_WITH_CUDA)
  return make_nccl_communicator(mpi, backend, timeout_s);
#else
  ELBO_FAIL("dist.backend: nccl requested, but this elbo was built without CUDA");
#endif
}

}  // namespace elbo
