// All-reduce for CPU ranks through node shared memory (MPI-3 shared windows),
// hierarchical across nodes:
//   1. each rank copies its buffer into its slot of the node's shared window;
//   2. rank l of the node sums segment l of all slots, in slot order 0..L-1;
//   3. with several nodes, segment l is all-reduced among the ranks with local index l;
//   4. each rank copies every segment back.
// Summation order per element is fixed (slots in order, then MPI across nodes), so
// the result is bitwise identical on every rank and independent of how the buffer is
// cut into buckets. On one node this moves each byte through memory a few times
// instead of through Open MPI's fragment pipeline: several times faster for the
// megabyte-sized gradient buckets of a step.
#pragma once
#include <mpi.h>

#include <cstddef>
#include <memory>

namespace elbo {

class ShmAllreduce {
 public:
  // Collective over world. Returns null when it cannot serve (a single rank per node,
  // or nodes with different numbers of ranks): callers then use plain MPI.
  static std::unique_ptr<ShmAllreduce> create(MPI_Comm world);
  ~ShmAllreduce();

  // Collective: every rank passes the same n.
  void allreduce_sum(float* buf, size_t n);

  // The sharded collectives of Communicator (shards by dist/shard.h over the node's
  // ranks), for a single node only (single_node()): there the local index is the rank.
  // reduce_scatter_sum adds each element over the slots in slot order 0..L-1, exactly as
  // allreduce_sum does, so its shard holds the all-reduce's bits.
  bool single_node() const { return nodes_ == 1; }
  void reduce_scatter_sum(float* buf, size_t n);
  void allgather_shards(float* buf, size_t n);

 private:
  ShmAllreduce() = default;
  void ensure_capacity(size_t n);
  // Publishes every rank's writes to its slot and waits for all ranks (MPI's unified
  // memory model: sync, barrier, sync).
  void fence();
  // Elements [begin, begin + m) summed over the slots in slot order, ((s0 + s1) + s2) + ...
  // per element (the one order of the all-reduce and the reduce-scatter), written to `to`
  // and, when given, to `also`; either may be this rank's own slot.
  void sum_slots(size_t begin, size_t m, float* to, float* also = nullptr) const;

  MPI_Comm node_ = MPI_COMM_NULL;   // ranks of this node
  MPI_Comm cross_ = MPI_COMM_NULL;  // ranks with this local index on every node
  int local_ = 0, local_size_ = 1, nodes_ = 1;
  MPI_Win win_ = MPI_WIN_NULL;
  size_t capacity_ = 0;  // floats per slot
  float** slots_ = nullptr;
};

}  // namespace elbo
