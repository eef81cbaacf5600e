// Arguments shared by the commands that run a model (train, eval, sample, reconstruct):
// CONFIG, --set k=v, named options, switches, -h/--help; and the per-rank process
// set-up (MPI, threads, error exit).
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "elbo/config.h"
#include "elbo/dist/mpi_context.h"

namespace elbo::cli {

struct RunCommand {
  std::string name;                     // "eval"
  const char* help = "";                // printed by --help
  std::vector<std::string> options;     // take a value, named without "--": "checkpoint", "out"
  std::vector<std::string> switches;    // take no value: "verbose"
  bool config_from_checkpoint = false;  // CONFIG may be left out when --checkpoint is given
};

struct RunArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::map<std::string, std::string> options;               // the last value of each
  std::map<std::string, std::vector<std::string>> repeated;  // every value, in order
  std::set<std::string> switches;

  std::string option(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? "" : it->second;
  }
  // Every value of a repeatable option (--index 1,2 --index 3,4), in order.
  std::vector<std::string> values(const std::string& name) const {
    auto it = repeated.find(name);
    return it == repeated.end() ? std::vector<std::string>{} : it->second;
  }
  bool has(const std::string& switch_name) const { return switches.count(switch_name) > 0; }
};

// Parses argv (argv[0] is the command name). Returns -1 when the command should run,
// else its exit code: 0 after printing the help, 2 after a usage error.
int parse_run_args(int argc, char** argv, const RunCommand& command, RunArgs& out);

// The run's configuration, checked on every rank: CONFIG with the overrides; without
// CONFIG, the effective config stored in the --checkpoint file (read by rank 0 and
// broadcast). With --verbose rank 0 prints it. Collective.
Config load_run_config(MpiContext& mpi, const RunArgs& args);

// Initialises MPI, sets threads from the cores per node-local rank, runs body; an
// elbo::Error is printed with the rank and the whole job is aborted (so no rank waits
// forever for a peer that gave up). Returns the exit code.
int run_on_ranks(int argc, char** argv, const std::function<int(MpiContext&)>& body);

}  // namespace elbo::cli
