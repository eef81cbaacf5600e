// Arguments shared by the commands that run a model: CONFIG, --set k=v, and a few
// named options; plus the per-rank process set-up (MPI, BLAS threads, error exit).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "elbo/config.h"
#include "elbo/dist/mpi_context.h"

namespace elbo::cli {

struct RunArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::map<std::string, std::string> options;  // --checkpoint, --out, ...
};

// Parses argv (argv[0] is the command name). allowed: the named options the command takes.
// Returns false after printing a message on bad usage.
bool parse_run_args(int argc, char** argv, const std::vector<std::string>& allowed, RunArgs& out);

// Initialises MPI, sets BLAS threads from the cores per node-local rank, runs body;
// an elbo::Error is printed with the rank and the whole job is aborted (so no rank waits
// forever for a peer that gave up). Returns the exit code.
int run_on_ranks(int argc, char** argv, const std::function<int(MpiContext&)>& body);

}  // namespace elbo::cli
