// Bucketed gradient all-reduce, overlapped with backward (PyTorch DDP's reducer
// idea without its bookkeeping). Buckets are contiguous ranges of the flat gradient
// buffer, cut from its end: backward finishes the last layers' gradients first, and
// their parameters sit at the end of the buffer. A bucket is reduced as soon as
// backward reports that everything from its start onwards is final.
// With a sharded optimizer (ZeRO-1, dist.zero) it reduce-scatters instead: each rank
// needs the sum of its own shard only, half the traffic of an all-reduce.
#pragma once
#include <cstddef>
#include <vector>

#include "elbo/dist/communicator.h"

namespace elbo {

class GradReducer {
 public:
  GradReducer(Communicator& comm, float* grads, size_t n, size_t bucket_elems);

  void begin_step();
  // Every gradient at index >= offset is final: start the buckets that lie there.
  void ready_from(size_t offset);
  // Starts what is left and waits for all reductions.
  void finish();

  // ZeRO-1: from now on finish() reduce-scatters the first `sharded` floats in one call
  // (each rank's shard_of(sharded, world, rank) gets the sum over the ranks, the rest of
  // them is left unspecified) and ready_from() starts nothing; the floats past `sharded`
  // (the step's health) are not reduced. Only where the communicator's reduce-scatter adds
  // in its all-reduce's order (Communicator::reduce_scatter_matches_allreduce), so the
  // sums keep the bits of an unsharded run.
  void reduce_scatter_instead(size_t sharded);
  bool scatters() const { return scatter_n_ > 0; }

  // Host seconds spent inside communicator calls (starting, blocking or waiting)
  // since the last call of this function.
  double take_comm_seconds();

  struct Bucket {
    size_t begin, end;
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }
  Communicator& communicator() { return comm_; }

 private:
  Communicator& comm_;
  float* grads_;
  std::vector<Bucket> buckets_;  // buckets_[0] ends at n
  size_t launched_ = 0;
  size_t scatter_n_ = 0;  // > 0: reduce-scatter this many floats instead of the buckets
  double comm_seconds_ = 0.0;
};

}  // namespace elbo
