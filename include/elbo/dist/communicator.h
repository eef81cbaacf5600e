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
};

enum class CommBackend { kAuto, kMpi, kNccl };

// kAuto: NCCL for CUDA replicas (when compiled), MPI otherwise.
std::unique_ptr<Communicator> make_communicator(CommBackend kind, MpiContext& mpi, Backend& backend,
                                                double timeout_s = 300.0);

}  // namespace elbo
