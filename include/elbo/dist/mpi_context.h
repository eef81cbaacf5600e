// Process-level MPI: initialisation, rank / world / node-local rank, and the
// host-side control plane (stop flags, strings, consistency checks).
// The node-local rank comes from MPI_Comm_split_type(SHARED), so mpirun and srun
// launch alike.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace elbo {

class MpiContext {
 public:
  // Initialises MPI unless it already is, asking for MPI_THREAD_MULTIPLE: the watchdog
  // thread must be allowed to call MPI_Abort while the main thread waits in a
  // collective. Finalises in the destructor if it initialised.
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_rank() const { return local_rank_; }
  int local_world() const { return local_world_; }
  MPI_Comm comm() const { return comm_; }
  bool is_root() const { return rank_ == 0; }

  int allreduce_max(int v) const;
  int64_t allreduce_max(int64_t v) const;
  int64_t allreduce_sum(int64_t v) const;
  double allreduce_sum(double v) const;
  void allreduce_sum(double* v, int n) const;
  void broadcast(std::string& s, int root = 0) const;
  void broadcast(void* data, size_t bytes, int root = 0) const;
  std::vector<uint64_t> allgather(uint64_t v) const;
  void barrier() const;
  // Every rank must pass the same value (config hash, parameter checksum); otherwise
  // every rank throws an Error naming the ranks that disagree and what about.
  void require_same(uint64_t value, const std::string& what) const;
  // Like require_same, but throws an AgreedError (every rank throws it; rank 0 prints it).
  void require_same_agreed(uint64_t value, const std::string& what) const;
  // Runs `check` on every rank; an elbo::Error on any rank becomes the same AgreedError on
  // all of them, with the message of the lowest failing rank (printed once, by rank 0)
  // instead of one message per rank racing the job's abort. Collective.
  void check_on_all_ranks(const std::function<void()>& check) const;
  // Ends every rank of the job. Safe from any thread when thread_multiple(); otherwise
  // (an MPI library without MPI_THREAD_MULTIPLE) a thread other than the main one ends
  // only its own process with _exit(code), and the launcher (mpirun, srun
  // --kill-on-bad-exit) ends the others.
  [[noreturn]] void abort(int code) const;
  // Whether MPI granted MPI_THREAD_MULTIPLE.
  bool thread_multiple() const { return thread_level_ >= MPI_THREAD_MULTIPLE; }

 private:
  MPI_Comm comm_ = MPI_COMM_WORLD;
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_world_ = 1;
  bool owns_mpi_ = false;
  int thread_level_ = MPI_THREAD_SINGLE;
};

}  // namespace elbo
