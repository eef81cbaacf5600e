#include "elbo/dist/gpu_sharing.h"

#include <algorithm>
#include <cstring>

namespace elbo {

bool nccl_accepts_shared_gpus(int nccl_version, const char* multi_rank_env) {
  constexpr int kFirstSharingVersion = 23000;  // NCCL 2.30.0
  return nccl_version >= kFirstSharingVersion && multi_rank_env && std::strcmp(multi_rank_env, "1") == 0;
}

bool ranks_share_a_device(const std::vector<uint64_t>& device_ids) {
  std::vector<uint64_t> sorted = device_ids;
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

}  // namespace elbo
