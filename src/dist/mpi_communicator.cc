#include "elbo/dist/mpi_communicator.h"

#include <mpi.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "elbo/backend.h"
#include "elbo/dist/mpi_context.h"
#include "elbo/dist/shard.h"
#include "elbo/error.h"
#include "shm_allreduce.h"

namespace elbo {
namespace {

void check_mpi(int rc, const char* what, int rank) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  ELBO_FAIL("rank " << rank << ": MPI " << what << " failed: " << std::string(msg, len));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MpiContext& mpi, Backend& backend)
      : mpi_(mpi), backend_(backend), staged_(backend.device().is_cuda()) {
    // CPU ranks sharing a node reduce through shared memory (ELBO_SHM_ALLREDUCE=0: plain MPI).
    const char* env = std::getenv("ELBO_SHM_ALLREDUCE");
    if (!staged_ && mpi.world() > 1 && !(env && std::string(env) == "0")) shm_ = ShmAllreduce::create(mpi.comm());
  }
  ~MpiCommunicator() override {
    // Waiting for all-reduces that peers will never join (this rank is unwinding an
    // error) would hang before the error is printed; the job is about to be aborted.
    if (std::uncaught_exceptions() > 0) return;
    if (!pending_.empty()) MPI_Waitall(int(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
  }

  std::string name() const override {
    return staged_ ? "mpi (host-staged)" : shm_ ? "mpi + node shared memory" : "mpi";
  }
  int rank() const override { return mpi_.rank(); }
  int world() const override { return mpi_.world(); }

  void allreduce_sum(float* buf, size_t n) override {
    if (mpi_.world() == 1 || n == 0) return;
    if (shm_) return shm_->allreduce_sum(buf, n);
    float* host = stage_in(buf, n);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, host, int(n), MPI_FLOAT, MPI_SUM, mpi_.comm()), "all-reduce", rank());
    stage_out(buf, host, n);
  }

  void allreduce_sum_async(float* buf, size_t n) override {
    // Host-staged and shared-memory reductions are blocking: without an MPI progress
    // thread a CPU rank gains nothing from starting them early.
    if (staged_ || shm_) return allreduce_sum(buf, n);
    if (mpi_.world() == 1 || n == 0) return;
    MPI_Request req;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, buf, int(n), MPI_FLOAT, MPI_SUM, mpi_.comm(), &req), "all-reduce",
              rank());
    pending_.push_back(req);
    // Give the MPI progress engine a turn so earlier buckets move while backward runs.
    int done = 0;
    MPI_Testall(int(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE);
    if (done) pending_.clear();
  }

  void wait_all() override {
    if (pending_.empty()) return;
    check_mpi(MPI_Waitall(int(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE), "all-reduce wait", rank());
    pending_.clear();
  }

  void broadcast(float* buf, size_t n, int root) override {
    if (mpi_.world() == 1 || n == 0) return;
    float* host = stage_in(buf, n);
    check_mpi(MPI_Bcast(host, int(n), MPI_FLOAT, root, mpi_.comm()), "broadcast", rank());
    stage_out(buf, host, n);
  }

  void allgather(const float* send, float* recv, size_t n) override {
    if (!staged_) {
      check_mpi(MPI_Allgather(send, int(n), MPI_FLOAT, recv, int(n), MPI_FLOAT, mpi_.comm()), "allgather", rank());
      return;
    }
    std::vector<float> in(n), out(n * size_t(world()));
    backend_.copy_to_host(in.data(), send, n);
    check_mpi(MPI_Allgather(in.data(), int(n), MPI_FLOAT, out.data(), int(n), MPI_FLOAT, mpi_.comm()), "allgather",
              rank());
    backend_.copy_to_device(recv, out.data(), out.size());
    backend_.synchronize();
  }

  // On one node through shared memory; otherwise MPI on the (host-staged) buffer.
  void reduce_scatter_sum(float* buf, size_t n) override {
    if (mpi_.world() == 1 || n == 0) return;
    if (shm_ && shm_->single_node()) return shm_->reduce_scatter_sum(buf, n);
    float* host = stage_in(buf, n);
    const ShardCounts sc = shard_counts(n, world());
    // In place, MPI puts this rank's sum at the start of the buffer: moved to its shard.
    check_mpi(MPI_Reduce_scatter(MPI_IN_PLACE, host, sc.counts.data(), MPI_FLOAT, MPI_SUM, mpi_.comm()),
              "reduce-scatter", rank());
    const Shard mine = shard_of(n, world(), rank());
    std::memmove(host + mine.begin, host, mine.size() * sizeof(float));
    stage_out(buf, host, n);
  }
  bool reduce_scatter_matches_allreduce() const override {
    return mpi_.world() == 1 || (shm_ && shm_->single_node());
  }
  void allgather_shards(float* buf, size_t n) override {
    if (mpi_.world() == 1 || n == 0) return;
    if (shm_ && shm_->single_node()) return shm_->allgather_shards(buf, n);
    float* host = stage_in(buf, n);
    const ShardCounts sc = shard_counts(n, world());
    check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, host, sc.counts.data(), sc.displs.data(),
                             MPI_FLOAT, mpi_.comm()),
              "all-gather of shards", rank());
    stage_out(buf, host, n);
  }

  void barrier() override { mpi_.barrier(); }

 private:
  float* stage_in(float* buf, size_t n) {
    if (!staged_) return buf;
    if (host_.size() < n) host_.resize(n);
    backend_.copy_to_host(host_.data(), buf, n);
    return host_.data();
  }
  void stage_out(float* buf, float* host, size_t n) {
    if (!staged_) return;
    backend_.copy_to_device(buf, host, n);
    backend_.synchronize();
  }

  MpiContext& mpi_;
  Backend& backend_;
  bool staged_;
  std::vector<float> host_;
  std::vector<MPI_Request> pending_;
  std::unique_ptr<ShmAllreduce> shm_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(MpiContext& mpi, Backend& backend) {
  return std::make_unique<MpiCommunicator>(mpi, backend);
}

}  // namespace elbo
