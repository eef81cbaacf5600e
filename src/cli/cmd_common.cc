#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "elbo/train/signals.h"
#include "run_args.h"

namespace elbo::cli {

// CPUs this process may run on: the launcher's binding (mpirun binds each rank to a
// core by default for up to two ranks, srun --cpu-bind, taskset) counts, not just the
// machine's cores.
static int cpus_in_affinity_mask() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return int(std::thread::hardware_concurrency());
  return std::max(1, CPU_COUNT(&set));
}

static void set_threads(const MpiContext& mpi) {
  // Ranks on one node share its cores: each rank's CPU backend gets min(its affinity
  // mask, cores / node-local ranks) threads for GEMMs, convolutions and element-wise
  // loops alike, unless ELBO_CPU_THREADS (or, as before oneDNN replaced OpenBLAS,
  // OPENBLAS_NUM_THREADS) says otherwise. More threads than the CPUs a rank is bound to
  // would only time-slice one core.
  const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  int threads = std::max(1, std::min(cpus_in_affinity_mask(), cores / std::max(1, mpi.local_world())));
  const char* env = std::getenv("ELBO_CPU_THREADS");
  if (!env) env = std::getenv("OPENBLAS_NUM_THREADS");
  if (env) threads = std::max(1, std::atoi(env));
  set_cpu_backend_threads(threads);
}

int run_on_ranks(int argc, char** argv, const std::function<int(MpiContext&)>& body) {
  MpiContext mpi(&argc, &argv);
  // Before the first thread that runs oneDNN: the worker pool (set_threads), the data
  // loader, OpenMP's threads.
  keep_stop_signals_off_compute_threads();
  set_threads(mpi);
  try {
    return body(mpi);
  } catch (const AgreedError& e) {
    // Every rank threw it at the same point and unwound alike: rank 0 says it once, and
    // all exit non-zero without aborting (nothing is left waiting).
    if (mpi.is_root()) std::fprintf(stderr, "elbo: error: %s\n", e.what());
    std::fflush(stderr);
    return 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "elbo: rank %d: error: %s\n", mpi.rank(), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "elbo: rank %d: internal error: %s\n", mpi.rank(), e.what());
  }
  std::fflush(stderr);
  if (mpi.world() > 1) {
    // Give the other ranks a moment to print their own message, then end the job.
    usleep(200 * 1000);
    mpi.abort(1);
  }
  return 1;
}

}  // namespace elbo::cli
