// The data plane between replicas: collectives over device buffers.
// Implementations: MpiCommunicator (CPU ranks, or GPU ranks through host-staged copies)
// and NcclCommunicator (GPU ranks). The control plane (flags, strings, config hashes)
// goes through MpiContext, whatever the data plane is.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace elbo {

class Backend;
class MpiContext;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int world() const = 0;

  // In place, over device memory of the replica's backend.
  virtual void allreduce_sum(float* buf, size_t n) = 0;
  virtual void broadcast(float* buf, size_t n, int root) = 0;
  // recv holds world()*n floats; rank r's send lands at recv + r*n.
  virtual void allgather(const float* send, float* recv, size_t n) = 0;
  virtual void barrier() = 0;

  // Sharded collectives over n floats cut into world() shards by shard_of(n, world(), r)
  // (dist/shard.h), in place, every rank passing the same n.
  // reduce_scatter_sum: on return this rank's shard of buf holds the sum over the ranks
  // (the rest of buf is unspecified). The MPI communicator's node-shared-memory path adds
  // in rank order exactly as its all-reduce does (the same bits); plain MPI and NCCL pick
  // their own order, which may differ from their all-reduce's in the last bits.
  virtual void reduce_scatter_sum(float* buf, size_t n) = 0;
  // Whether reduce_scatter_sum gives each element of the shard the very bits that
  // allreduce_sum gives it (a sharded optimizer may then reduce-scatter its gradients and
  // stay bitwise an unsharded run): true of one rank and of the node-shared-memory path.
  virtual bool reduce_scatter_matches_allreduce() const { return world() == 1; }
  // allgather_shards: on return every rank holds every rank's shard of buf (copies: the
  // same bits everywhere). Ordered on the backend's stream; on NCCL the host does not wait
  // for it (like wait_all), so it may be recorded into a captured step.
  virtual void allgather_shards(float* buf, size_t n) = 0;

  // Asynchronous all-reduce, for overlapping gradient buckets with backward.
  // Default: blocking. wait_all() returns when every started reduction is done.
  virtual void allreduce_sum_async(float* buf, size_t n) { allreduce_sum(buf, n); }
  virtual void wait_all() {}

  // Whether allreduce_sum_async / wait_all may be recorded into a CUDA graph of the
  // backend's stream (NCCL: yes; MPI: no, it works on the host).
  virtual bool capturable() const { return false; }

  // False once an error has made the communicator unusable (NCCL: aborted with
  // ncclCommAbort); every later collective then throws.
  virtual bool usable() const { return true; }

  // Whether it ends a host wait for the device after dist.timeout_s itself (NCCL: with
  // NCCL's diagnosis, after ncclCommAbort). The trainer's watchdog then waits a little
  // longer, so that this message, not the watchdog's, reports a stuck collective.
  virtual bool times_out_device_waits() const { return false; }
};

enum class CommBackend { kAuto, kMpi, kNccl };

// kAuto: NCCL for CUDA replicas (when compiled), MPI otherwise.
std::unique_ptr<Communicator> make_communicator(CommBackend kind, MpiContext& mpi, Backend& backend,
                                                double timeout_s = 300.0);

}  // namespace elbo
