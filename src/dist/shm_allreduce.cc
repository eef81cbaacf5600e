#include "shm_allreduce.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <vector>

#include "elbo/dist/shard.h"
#include "elbo/error.h"

namespace elbo {

std::unique_ptr<ShmAllreduce> ShmAllreduce::create(MPI_Comm world) {
  int rank = 0;
  MPI_Comm_rank(world, &rank);
  MPI_Comm node;
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  int local = 0, local_size = 1;
  MPI_Comm_rank(node, &local);
  MPI_Comm_size(node, &local_size);
  int min_size = 0, max_size = 0;
  MPI_Allreduce(&local_size, &min_size, 1, MPI_INT, MPI_MIN, world);
  MPI_Allreduce(&local_size, &max_size, 1, MPI_INT, MPI_MAX, world);
  if (min_size != max_size || max_size < 2) {
    MPI_Comm_free(&node);
    return nullptr;
  }
  std::unique_ptr<ShmAllreduce> s(new ShmAllreduce());
  s->node_ = node;
  s->local_ = local;
  s->local_size_ = local_size;
  MPI_Comm_split(world, local, rank, &s->cross_);
  MPI_Comm_size(s->cross_, &s->nodes_);
  s->slots_ = new float*[size_t(local_size)]();
  return s;
}

ShmAllreduce::~ShmAllreduce() {
  // Freeing the window and the communicators is collective. While an exception unwinds
  // this rank, the peers are still inside a step and would never join: the free would
  // block for ever and the error would never be printed. The process is about to end
  // (the error path aborts the job), so the memory is left to the OS.
  if (std::uncaught_exceptions() > 0) return;
  if (win_ != MPI_WIN_NULL) {
    MPI_Win_unlock_all(win_);
    MPI_Win_free(&win_);
  }
  delete[] slots_;
  if (cross_ != MPI_COMM_NULL) MPI_Comm_free(&cross_);
  if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
}

void ShmAllreduce::ensure_capacity(size_t n) {
  // Collective on the node: every rank asks for the same n, so all grow together.
  if (n <= capacity_) return;
  if (win_ != MPI_WIN_NULL) {
    MPI_Win_unlock_all(win_);
    MPI_Win_free(&win_);
  }
  float* base = nullptr;
  const MPI_Aint bytes = MPI_Aint(n * sizeof(float));
  int rc = MPI_Win_allocate_shared(bytes, sizeof(float), MPI_INFO_NULL, node_, &base, &win_);
  ELBO_CHECK(rc == MPI_SUCCESS, "cannot allocate " << bytes << " bytes of node shared memory for the all-reduce");
  for (int r = 0; r < local_size_; ++r) {
    MPI_Aint size = 0;
    int disp = 0;
    MPI_Win_shared_query(win_, r, &size, &disp, &slots_[r]);
  }
  MPI_Win_lock_all(MPI_MODE_NOCHECK, win_);
  capacity_ = n;
}

void ShmAllreduce::sum_slots(size_t begin, size_t m, float* to, float* also) const {
  // A block at a time in a small buffer that stays in cache: a destination may be this
  // rank's own slot, which is also an input, so it is written only once every slot's
  // values of the block are added.
  constexpr size_t kBlock = 1024;
  float acc[kBlock];
  for (size_t b = 0; b < m; b += kBlock) {
    const size_t len = std::min(kBlock, m - b);
    const float* __restrict s0 = slots_[0] + begin + b;
    const float* __restrict s1 = slots_[1] + begin + b;
    for (size_t i = 0; i < len; ++i) acc[i] = s0[i] + s1[i];
    for (int r = 2; r < local_size_; ++r) {
      const float* __restrict in = slots_[r] + begin + b;
      for (size_t i = 0; i < len; ++i) acc[i] += in[i];
    }
    std::memcpy(to + b, acc, len * sizeof(float));
    if (also) std::memcpy(also + b, acc, len * sizeof(float));
  }
}

void ShmAllreduce::allreduce_sum(float* buf, size_t n) {
  if (n == 0) return;
  ensure_capacity(n);
  std::memcpy(slots_[local_], buf, n * sizeof(float));
  // Publish my slot, wait for everyone's (unified memory model: sync + barrier).
  MPI_Win_sync(win_);
  MPI_Barrier(node_);
  MPI_Win_sync(win_);
  const size_t begin = n * size_t(local_) / size_t(local_size_);
  const size_t end = n * size_t(local_ + 1) / size_t(local_size_);
  // My segment's sums, into my own slot (whose segment no other rank reads in this
  // phase) and into my buffer.
  float* out = slots_[local_] + begin;
  const size_t m = end - begin;
  sum_slots(begin, m, out, buf + begin);
  if (nodes_ > 1 && end > begin) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, out, int(m), MPI_FLOAT, MPI_SUM, cross_);
    ELBO_CHECK(rc == MPI_SUCCESS, "all-reduce across nodes failed");
    std::memcpy(buf + begin, out, m * sizeof(float));
  }
  MPI_Win_sync(win_);
  MPI_Barrier(node_);
  MPI_Win_sync(win_);
  for (int r = 0; r < local_size_; ++r) {
    if (r == local_) continue;  // written above
    const size_t b = n * size_t(r) / size_t(local_size_), e = n * size_t(r + 1) / size_t(local_size_);
    std::memcpy(buf + b, slots_[r] + b, (e - b) * sizeof(float));
  }
  // Nobody may refill its slot before everyone has copied the segments out.
  MPI_Barrier(node_);
}

void ShmAllreduce::fence() {
  MPI_Win_sync(win_);
  MPI_Barrier(node_);
  MPI_Win_sync(win_);
}

void ShmAllreduce::reduce_scatter_sum(float* buf, size_t n) {
  ELBO_CHECK(single_node(), "the shared-memory reduce-scatter serves a single node only");
  if (n == 0) return;
  ensure_capacity(n);
  std::memcpy(slots_[local_], buf, n * sizeof(float));
  fence();
  const Shard mine = shard_of(n, local_size_, local_);
  sum_slots(mine.begin, mine.size(), buf + mine.begin);  // the all-reduce's sums, the same bits
  // Nobody may refill its slot before everyone has read the slots.
  MPI_Barrier(node_);
}

void ShmAllreduce::allgather_shards(float* buf, size_t n) {
  ELBO_CHECK(single_node(), "the shared-memory all-gather serves a single node only");
  if (n == 0) return;
  ensure_capacity(n);
  const Shard mine = shard_of(n, local_size_, local_);
  std::memcpy(slots_[local_] + mine.begin, buf + mine.begin, mine.size() * sizeof(float));
  fence();
  for (int r = 0; r < local_size_; ++r) {
    if (r == local_) continue;
    const Shard s = shard_of(n, local_size_, r);
    std::memcpy(buf + s.begin, slots_[r] + s.begin, s.size() * sizeof(float));
  }
  MPI_Barrier(node_);
}

}  // namespace elbo
