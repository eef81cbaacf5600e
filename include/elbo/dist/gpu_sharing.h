// Several ranks on one GPU (a test node, an oversubscribed workstation): MPI can reduce
// their gradients (host-staged); NCCL up to 2.29 refuses communicators whose ranks share
// a device, and from 2.30 allows it when NCCL_MULTI_RANK_GPU_ENABLE=1 (experimental).
// The data plane factory uses these rules to fall back to MPI, or to explain, instead of
// letting NCCL fail at init.
#pragma once
#include <cstdint>
#include <vector>

namespace elbo {

// Whether an NCCL of this version (ncclGetVersion's encoding: 2.30.0 = 23000) accepts
// ranks that share a GPU, given the value of NCCL_MULTI_RANK_GPU_ENABLE (null: unset).
bool nccl_accepts_shared_gpus(int nccl_version, const char* multi_rank_env);

// Whether two ranks' device ids (one per rank, as all-gathered) name the same device.
bool ranks_share_a_device(const std::vector<uint64_t>& device_ids);

}  // namespace elbo
