#include "memory_plan.h"

#include <algorithm>

namespace elbo::detail {

MemoryPlan plan_memory(const ShardSetInfo& info, int64_t local_rows, int64_t budget_bytes,
                       int prefetch_batches) {
  MemoryPlan plan;
  plan.set_bytes = info.count * (info.bytes_per_sample() + (info.has_labels ? 4 : 0));
  plan.cache_in_memory = plan.set_bytes <= budget_bytes / 2;
  plan.batch_bytes = local_rows * (info.sample_dim() * int64_t(sizeof(float)) + 4 + 8);
  int64_t fixed = 2 * info.count * 8;  // two epoch permutations
  if (plan.cache_in_memory) {
    fixed += plan.set_bytes;
  } else {
    const int64_t shards = std::max<int64_t>(1, int64_t(info.shards.size()));
    plan.chunk_cache_bytes_per_shard = budget_bytes / 8 / shards;
    plan.staging_bytes = local_rows * info.bytes_per_sample();
    fixed += plan.chunk_cache_bytes_per_shard * shards + plan.staging_bytes;
  }
  const int64_t for_queue = budget_bytes - fixed - plan.batch_bytes;  // minus the caller's batch
  const int64_t fits = plan.batch_bytes > 0 ? for_queue / plan.batch_bytes : prefetch_batches;
  plan.queue_capacity = static_cast<int>(std::clamp<int64_t>(fits, 1, std::max(1, prefetch_batches)));
  return plan;
}

}  // namespace elbo::detail
