#include <cblas.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

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

static void set_blas_threads(const MpiContext& mpi) {
  // Ranks on one node share its cores: BLAS gets cores / node-local ranks threads
  // per rank, unless OPENBLAS_NUM_THREADS says otherwise. (Element-wise loops stay
  // on the calling thread: a second thread pool spinning beside OpenBLAS's costs
  // more than it saves on the small shapes of a VAE step.)
  const int per_rank = std::max(1, int(std::thread::hardware_concurrency()) / std::max(1, mpi.local_world()));
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  openblas_set_num_threads(env ? std::max(1, std::atoi(env)) : per_rank);
}

int run_on_ranks(int argc, char** argv, const std::function<int(MpiContext&)>& body) {
  MpiContext mpi(&argc, &argv);
  set_blas_threads(mpi);
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
