// How the loader spends LoaderOptions::memory_budget_bytes (per rank).
//
//   cached mode     the whole set's raw bytes (+ labels) fit in half the budget:
//                   they are read once into RAM; batches are gathered from there.
//   streaming mode  otherwise: each batch is read from the shards, sample runs by
//                   hyperslab, into one batch of raw staging bytes. 1/8 of the
//                   budget is reserved for HDF5 chunk caches across all shard files;
//                   only compressed shards use it (see ShardReader), plain ones are
//                   read uncached.
// In both modes the rest pays for batches: the one the caller holds, and the
// prefetch queue (the batch being built counts as queued), so the queue is as
// long as fits, between 1 and prefetch_batches. Two cached epoch permutations
// (8 bytes per sample each) are part of the fixed cost. A budget smaller than two
// batches cannot be honoured; the queue then still holds one batch.
#pragma once
#include <cstdint>

#include "elbo/data/shard_set.h"

namespace elbo::detail {

struct MemoryPlan {
  bool cache_in_memory = false;
  int64_t set_bytes = 0;                  // raw images + labels of the whole set
  int64_t chunk_cache_bytes_per_shard = 0;  // streaming only
  int64_t staging_bytes = 0;              // streaming only: raw bytes of one batch
  int64_t batch_bytes = 0;                // one delivered batch (floats, labels, ids)
  int queue_capacity = 1;
};

MemoryPlan plan_memory(const ShardSetInfo& info, int64_t local_rows, int64_t budget_bytes,
                       int prefetch_batches);

}  // namespace elbo::detail
