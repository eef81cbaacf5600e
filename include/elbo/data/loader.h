// The training data stream.
//
// Order: epochs are concatenated into one stream; epoch e is the permutation of
// 0..N-1 drawn from (seed, e) alone (Philox, kRngPermutation). The global cursor
// counts samples consumed since training began, so global batch b covers stream
// positions [b*B, (b+1)*B), and within it rank r takes positions
// [b*B + r*B/W, b*B + (r+1)*B/W). Every epoch's segment of the stream holds every
// sample exactly once; when B does not divide N, a batch straddles two epochs (the
// remainder of epoch e opens the first batch of e+1) rather than dropping samples.
// The order depends on neither the world size nor the shard count, so a run resumed
// on another number of ranks sees the same global batches.
//
// Memory: when the shard set fits in half the budget it is cached in RAM; otherwise
// each batch is read sample by sample from the shards with a bounded HDF5 chunk cache.
// A prefetch thread keeps up to `prefetch_batches` batches ready.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "elbo/data/shard_set.h"

namespace elbo {

struct LoaderOptions {
  int rank = 0;
  int world = 1;
  int64_t global_batch = 128;    // must be divisible by world
  uint64_t seed = 0;
  bool shuffle = true;
  bool scale = true;             // uint8 -> [0,1]
  float threshold = -1.0f;       // >= 0: static binarization x > threshold
  int64_t memory_budget_bytes = 512ll << 20;
  int prefetch_batches = 4;
};

struct Batch {
  std::vector<float> images;      // local_rows x sample_dim, row-major
  std::vector<int32_t> labels;    // local_rows (empty without labels)
  std::vector<int64_t> sample_ids;  // dataset index of each local row
  int64_t local_rows = 0;
  int64_t cursor = 0;             // stream position of the batch's first global row
  int64_t local_offset = 0;       // this rank's first row within the global batch
  int64_t epoch = 0;              // epoch of the batch's first global row
};

class DataLoader {
 public:
  DataLoader(ShardSetInfo info, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Next batch at the stream position (starts at 0 or where seek() put it).
  Batch next();
  // Restart the stream at a global cursor (a multiple of global_batch).
  void seek(int64_t cursor);
  int64_t cursor() const;                  // position of the next batch
  const ShardSetInfo& info() const;
  bool cached_in_memory() const;

  // Dataset index at stream position p: permutation of epoch p / N at p % N.
  static int64_t sample_at(int64_t position, int64_t count, uint64_t seed, bool shuffle);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The permutation of 0..count-1 for an epoch (Fisher-Yates on Philox draws).
std::vector<int64_t> epoch_permutation(int64_t count, uint64_t seed, int64_t epoch);

}  // namespace elbo
