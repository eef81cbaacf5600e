#include <cstdio>

#include "commands.h"
#include "elbo/train/trainer.h"
#include "run_args.h"

namespace elbo::cli {

int cmd_train(int argc, char** argv) {
  RunArgs args;
  if (!parse_run_args(argc, argv, {}, args)) return 2;
  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    Config config = load_config(args.config_path, args.overrides);
    TrainOutcome out = train(config, mpi);
    return out.completed || out.stopped_by_signal ? 0 : 1;
  });
}

}  // namespace elbo::cli
