#include "commands.h"
#include "elbo/train/evaluator.h"
#include "run_args.h"

namespace elbo::cli {

int cmd_eval(int argc, char** argv) {
  RunArgs args;
  if (!parse_run_args(argc, argv, {"checkpoint"}, args)) return 2;
  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    Config config = load_config(args.config_path, args.overrides);
    evaluate(config, mpi, args.options.count("checkpoint") ? args.options["checkpoint"] : "");
    return 0;
  });
}

}  // namespace elbo::cli
