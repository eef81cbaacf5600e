#include <cstdio>
#include <cstdlib>

#include "elbo/backend.h"
#include "elbo/dist/gpu_sharing.h"
#include "elbo/dist/mpi_communicator.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/dist/nccl_communicator.h"
#include "elbo/error.h"

namespace elbo {

std::unique_ptr<Communicator> make_communicator(CommBackend kind, MpiContext& mpi, Backend& backend,
                                                double timeout_s) {
  const bool cuda = backend.device().is_cuda();
  const bool chosen_automatically = kind == CommBackend::kAuto;
  if (chosen_automatically) kind = cuda ? CommBackend::kNccl : CommBackend::kMpi;
  if (kind == CommBackend::kMpi) return make_mpi_communicator(mpi, backend);
  ELBO_CHECK(cuda, "dist.backend: nccl needs CUDA replicas, but this replica runs on " << backend.device().str()
                                                                                       << " (use dist.backend: mpi)");
#if defined(ELBO_WITH_CUDA)
  // Ranks sharing a GPU: NCCL would fail at init unless it is new enough and allowed to.
  // A collective: every rank builds its data plane here.
  const bool shared = ranks_share_a_device(mpi.allgather(cuda_device_uuid_digest(backend.device().index)));
  const int version = nccl_runtime_version();
  if (shared && !nccl_accepts_shared_gpus(version, std::getenv("NCCL_MULTI_RANK_GPU_ENABLE"))) {
    const char* why = "ranks share a GPU, which NCCL accepts only from 2.30 with NCCL_MULTI_RANK_GPU_ENABLE=1";
    ELBO_CHECK(chosen_automatically, "dist.backend: nccl: " << why << " (NCCL here: " << version / 10000 << "."
                                                            << version / 100 % 100 << "." << version % 100
                                                            << "); use dist.backend: mpi or one rank per GPU");
    if (mpi.is_root()) {
      std::printf("elbo: %s; gradients go through MPI (host-staged) instead\n", why);
      std::fflush(stdout);
    }
    return make_mpi_communicator(mpi, backend);
  }
  return make_nccl_communicator(mpi, backend, timeout_s);
#else
  (void)timeout_s;
  ELBO_FAIL("dist.backend: nccl requested, but this elbo was built without CUDA");
#endif
}

}  // namespace elbo
