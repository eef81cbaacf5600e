#include "elbo/dist/mpi_context.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "elbo/error.h"

namespace elbo {
namespace {

// srun's task count when this process is one task of a multi-task Slurm step, else 0.
long slurm_step_tasks() {
  const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  if (!tasks || !std::getenv("SLURM_PROCID")) return 0;
  const long n = std::strtol(tasks, nullptr, 10);
  return n > 1 ? n : 0;
}

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

// Tasks of one srun step that cannot form one MPI world would each train alone, N copies
// of a one-rank run: refuse, saying how to launch. Printed by Slurm's task 0 only; the
// constructor runs before anything can report an error, so this exits directly.
[[noreturn]] void refuse_unjoined_srun_tasks(long tasks, const char* why) {
  const char* procid = std::getenv("SLURM_PROCID");
  if (procid && std::strcmp(procid, "0") == 0) {
    std::fprintf(stderr,
                 "elbo: error: srun started %ld tasks %s (each would train alone). Start them with srun --mpi=pmix "
                 "(srun --mpi=list shows what this Slurm offers; MpiDefault=pmix in slurm.conf makes it the default), "
                 "or with mpirun inside the allocation (salloc, or LAUNCH=mpirun for launch/slurm/*.sbatch). See "
                 "docs/launch.md.\n",
                 tasks, why);
    std::fflush(stderr);
  }
  std::exit(1);
}

}  // namespace

MpiContext::MpiContext(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  const long srun_tasks = slurm_step_tasks();
  if (!initialised) {
    // srun --mpi=pmix sets PMIX_RANK, --mpi=pmi2 PMI_RANK/PMI_FD, mpirun OMPI_COMM_WORLD_SIZE;
    // with none of them (srun --mpi=none) the tasks have no way to find each other.
    if (srun_tasks > 0 && !env_set("PMIX_RANK") && !env_set("PMI_RANK") && !env_set("PMI_FD") &&
        !env_set("OMPI_COMM_WORLD_SIZE"))
      refuse_unjoined_srun_tasks(srun_tasks, "without an MPI process-management interface, so they cannot form one "
                                             "MPI world");
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_);
    owns_mpi_ = true;
  } else {
    MPI_Query_thread(&thread_level_);
  }
  // Errors come back as codes (we check them) instead of aborting without a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &world_);
  if (world_ == 1 && srun_tasks > 0 && !env_set("OMPI_COMM_WORLD_SIZE")) {
    if (owns_mpi_) MPI_Finalize();
    refuse_unjoined_srun_tasks(srun_tasks, "but MPI sees a world of 1 rank: the tasks did not join one MPI world");
  }
  MPI_Comm local;
  MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_world_);
  MPI_Comm_free(&local);
}

MpiContext::~MpiContext() {
  if (owns_mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
}

namespace {
void check(int rc, const char* what, int rank) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    ELBO_FAIL("rank " << rank << ": MPI " << what << " failed: " << std::string(msg, len));
  }
}
}  // namespace

int MpiContext::allreduce_max(int v) const {
  int out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, comm_), "allreduce", rank_);
  return out;
}
int64_t MpiContext::allreduce_max(int64_t v) const {
  int64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, comm_), "allreduce", rank_);
  return out;
}
int64_t MpiContext::allreduce_sum(int64_t v) const {
  int64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, comm_), "allreduce", rank_);
  return out;
}
double MpiContext::allreduce_sum(double v) const {
  double out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_SUM, comm_), "allreduce", rank_);
  return out;
}
void MpiContext::allreduce_sum(double* v, int n) const {
  check(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, comm_), "allreduce", rank_);
}
void MpiContext::broadcast(std::string& s, int root) const {
  int64_t n = int64_t(s.size());
  check(MPI_Bcast(&n, 1, MPI_INT64_T, root, comm_), "broadcast", rank_);
  s.resize(size_t(n));
  if (n) check(MPI_Bcast(s.data(), int(n), MPI_CHAR, root, comm_), "broadcast", rank_);
}
void MpiContext::broadcast(void* data, size_t bytes, int root) const {
  check(MPI_Bcast(data, int(bytes), MPI_BYTE, root, comm_), "broadcast", rank_);
}
std::vector<uint64_t> MpiContext::allgather(uint64_t v) const {
  std::vector<uint64_t> out(static_cast<size_t>(world_));
  check(MPI_Allgather(&v, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, comm_), "allgather", rank_);
  return out;
}
void MpiContext::barrier() const { check(MPI_Barrier(comm_), "barrier", rank_); }

void MpiContext::require_same(uint64_t value, const std::string& what) const {
  std::vector<uint64_t> all = allgather(value);
  std::ostringstream differ;
  for (int r = 1; r < world_; ++r)
    if (all[size_t(r)] != all[0]) differ << (differ.tellp() > 0 ? ", " : "") << r;
  ELBO_CHECK(differ.str().empty(), "ranks disagree on " << what << ": rank(s) " << differ.str()
                                                        << " differ from rank 0 (all ranks must run the same "
                                                           "binary with the same config)");
}

void MpiContext::require_same_agreed(uint64_t value, const std::string& what) const {
  try {
    require_same(value, what);
  } catch (const AgreedError&) {
    throw;
  } catch (const Error& e) {  // every rank saw the same allgather, so every rank is here
    throw AgreedError(e.what());
  }
}

void MpiContext::check_on_all_ranks(const std::function<void()>& check) const {
  std::string error;
  try {
    check();
  } catch (const std::exception& e) {  // Error, or bad_alloc / filesystem_error from a check
    error = e.what();
  }
  const std::vector<uint64_t> failed = allgather(error.empty() ? 0 : 1);
  const auto first = std::find(failed.begin(), failed.end(), uint64_t(1));
  if (first == failed.end()) return;
  const int rank = int(first - failed.begin());
  if (rank != 0 && rank_ == rank) error = "rank " + std::to_string(rank) + ": " + error;
  broadcast(error, rank);
  throw AgreedError(error);
}

void MpiContext::abort(int code) const {
  int is_main = 0;
  MPI_Is_thread_main(&is_main);
  if (is_main || thread_multiple()) MPI_Abort(comm_, code);
  // MPI_Abort from this thread would break the thread level MPI granted.
  std::fflush(nullptr);
  _exit(code);
}

}  // namespace elbo
