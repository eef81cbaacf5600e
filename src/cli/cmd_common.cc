#include <cblas.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "elbo/backend.h"
#include "elbo/error.h"
#include "run_args.h"

namespace elbo::cli {

bool parse_run_args(int argc, char** argv, const std::vector<std::string>& allowed, RunArgs& out) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value_of = [&](const std::string& flag, std::string& v) {
      if (a.rfind(flag + "=", 0) == 0) {
        v = a.substr(flag.size() + 1);
        return true;
      }
      if (a == flag && i + 1 < argc) {
        v = argv[++i];
        return true;
      }
      return false;
    };
    std::string v;
    if (value_of("--set", v)) {
      out.overrides.push_back(v);
      continue;
    }
    bool matched = false;
    for (const std::string& opt : allowed)
      if (value_of("--" + opt, v)) {
        out.options[opt] = v;
        matched = true;
        break;
      }
    if (matched) continue;
    if (a.rfind("--", 0) == 0 || !out.config_path.empty()) {
      std::fprintf(stderr, "elbo %s: unexpected argument '%s'\n", argv[0], a.c_str());
      return false;
    }
    out.config_path = a;
  }
  if (out.config_path.empty()) {
    std::fprintf(stderr, "elbo %s: missing CONFIG (a YAML file)\n", argv[0]);
    return false;
  }
  return true;
}

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
  // Ranks on one node share its cores: each rank gets min(its affinity mask, cores /
  // node-local ranks) threads, for OpenBLAS and for the CPU backend's element-wise loops
  // alike, unless OPENBLAS_NUM_THREADS says otherwise. More threads than the CPUs a rank
  // is bound to would only time-slice one core.
  const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  int threads = std::max(1, std::min(cpus_in_affinity_mask(), cores / std::max(1, mpi.local_world())));
  if (const char* env = std::getenv("OPENBLAS_NUM_THREADS")) threads = std::max(1, std::atoi(env));
  openblas_set_num_threads(1);  // the CPU backend spreads GEMMs over its own pool
  set_cpu_backend_threads(threads);
}

int run_on_ranks(int argc, char** argv, const std::function<int(MpiContext&)>& body) {
  MpiContext mpi(&argc, &argv);
  set_threads(mpi);
  try {
    return body(mpi);
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
