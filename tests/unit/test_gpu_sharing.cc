// The rules behind the data plane's choice when ranks share a GPU (gpu_sharing.h).
#include <gtest/gtest.h>

#include "elbo/dist/gpu_sharing.h"

namespace elbo {
namespace {

TEST(GpuSharing, NcclAcceptsSharedGpusFrom230WhenEnabled) {
  EXPECT_FALSE(nccl_accepts_shared_gpus(22809, "1")) << "2.28.9 refuses";
  EXPECT_FALSE(nccl_accepts_shared_gpus(22903, "1")) << "2.29.3 refuses";
  EXPECT_TRUE(nccl_accepts_shared_gpus(23000, "1"));
  EXPECT_TRUE(nccl_accepts_shared_gpus(23102, "1"));
  EXPECT_FALSE(nccl_accepts_shared_gpus(23000, nullptr)) << "needs NCCL_MULTI_RANK_GPU_ENABLE";
  EXPECT_FALSE(nccl_accepts_shared_gpus(23000, "0"));
  EXPECT_FALSE(nccl_accepts_shared_gpus(0, "1")) << "unknown version";
}

TEST(GpuSharing, SharedDevicesAreFoundAmongAllRanks) {
  EXPECT_FALSE(ranks_share_a_device({}));
  EXPECT_FALSE(ranks_share_a_device({7}));
  EXPECT_FALSE(ranks_share_a_device({7, 8, 9, 10}));
  EXPECT_TRUE(ranks_share_a_device({7, 8, 9, 7}));
  EXPECT_TRUE(ranks_share_a_device({3, 3}));
}

}  // namespace
}  // namespace elbo
