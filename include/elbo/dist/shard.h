// How a flat buffer of n floats is cut into one contiguous shard per rank (ZeRO-1,
// dist.zero: each rank keeps Adam's moments and computes the update for its shard only,
// docs/architecture.md). The cut depends on n and the world size alone, so every rank
// computes every rank's shard without talking to the others.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "elbo/error.h"

namespace elbo {

struct Shard {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};

// Shard lengths are multiples of this many floats (4 KiB): the blocks whose partial sums
// of squares make the gradient norm (optim/update_guard.h), so a rank holding one shard
// of the reduce-scattered gradients computes its blocks' partials alone; also whole
// cache lines and vectors, so no two ranks write one cache line of a node-shared buffer.
// The shards stay within one block of one world-th of the buffer.
constexpr size_t kShardAlign = 1024;

// Rank r of world owns [min(r c, n), min((r+1) c, n)) with c = ceil(n / world) rounded up
// to a multiple of kShardAlign: every shard but the last ones is c floats, the last
// non-empty one takes the rest, and ranks past the end (n small, world large) own none.
inline Shard shard_of(size_t n, int world, int rank) {
  const size_t w = size_t(std::max(world, 1));
  const size_t c = ((n + w - 1) / w + kShardAlign - 1) / kShardAlign * kShardAlign;
  return Shard{std::min(size_t(rank) * c, n), std::min(size_t(rank + 1) * c, n)};
}

// Every rank's shard as the int counts and displacements of MPI's v-collectives.
struct ShardCounts {
  std::vector<int> counts, displs;
};
inline ShardCounts shard_counts(size_t n, int world) {
  ELBO_CHECK(n <= size_t(INT32_MAX), n << " floats exceed one MPI message");
  ShardCounts out;
  for (int r = 0; r < world; ++r) {
    const Shard s = shard_of(n, world, r);
    out.counts.push_back(int(s.size()));
    out.displs.push_back(int(s.begin));
  }
  return out;
}

}  // namespace elbo
