// elbo train: train (or resume) the run of a config (trainer.h).
#include "commands.h"
#include "elbo/train/trainer.h"
#include "paths.h"
#include "run_args.h"

namespace elbo::cli {
namespace {

const char* kHelp =
    "usage: elbo train CONFIG [--set section.key=value]... [--verbose]\n"
    "\n"
    "Trains the run of CONFIG, or resumes it from the newest valid checkpoint in run.dir.\n"
    "Launch several ranks with mpirun -np N (or srun); train.global_batch is split over them.\n"
    "At start rank 0 prints one line about the run and writes the effective configuration\n"
    "to run.dir/config.yaml; every train.log_every steps it prints a progress line and appends\n"
    "a record to run.dir/metrics.jsonl. Ctrl-C / SIGTERM / SIGUSR1 checkpoints and exits 0;\n"
    "the same command resumes. A finished run (run.dir/COMPLETED) is left untouched.\n"
    "\n"
    "  CONFIG             the run's YAML config (examples in configs/; a commented template\n"
    "                     with every key: elbo config template)\n"
    "  --set KEY=VALUE    override a config key (repeatable), e.g. --set train.lr=3e-4\n"
    "  --verbose          also print the effective configuration at start\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  mpirun -np 4 elbo train configs/fashion_mlp.yaml --set train.lr=3e-4 --set run.dir=runs/lr3e-4\n";

}  // namespace

int cmd_train(int argc, char** argv) {
  RunArgs args;
  if (const int rc = parse_run_args(argc, argv, {"train", kHelp, {}, {"verbose"}, false}, args); rc >= 0) return rc;
  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    const Config config = load_run_config(mpi, args);
    mpi.check_on_all_ranks([&] {
      require_input_file("data.train", config.data.train, Expected::kManifest);
      if (!config.data.test.empty()) require_input_file("data.test", config.data.test, Expected::kManifest);
    });
    TrainOutcome out = train(config, mpi);
    return out.completed || out.stopped_by_signal ? 0 : 1;
  });
}

}  // namespace elbo::cli
