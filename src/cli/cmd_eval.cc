// elbo eval: test negative ELBO and importance-weighted NLL of a checkpoint (evaluator.h).
#include "commands.h"
#include "elbo/train/evaluator.h"
#include "paths.h"
#include "run_args.h"

namespace elbo::cli {
namespace {

const char* kHelp =
    "usage: elbo eval [CONFIG] [--checkpoint FILE] [--out FILE] [--set section.key=value]... [--verbose]\n"
    "\n"
    "Evaluates a checkpoint on data.test: negative ELBO (one sample) and the importance-\n"
    "weighted NLL estimate with k = eval.iw_samples samples per image, in nats and bits/dim.\n"
    "Runs on any number of ranks (each takes a slice of the test images); rank 0 prints a\n"
    "progress line every few seconds and the result, and writes it as JSON:\n"
    "<run>/eval_step<S>.json (eval_step<S>_first<N>.json with eval.max_images = N), plus a\n"
    "copy as run.dir/eval.json for a whole-test-set evaluation of a checkpoint of run.dir.\n"
    "Ctrl-C (SIGINT) or SIGTERM stops it at once, writing nothing, exit code non-zero.\n"
    "\n"
    "  CONFIG             the run's YAML config; may be left out with --checkpoint, whose\n"
    "                     stored config is used then\n"
    "  --checkpoint FILE  the checkpoint (default: the newest valid one of run.dir); results\n"
    "                     go next to it (its run folder when it is in <run>/checkpoints/)\n"
    "  --out FILE         write the result here instead (a folder: the default name inside it)\n"
    "  --set KEY=VALUE    override a config key (repeatable): eval.iw_samples=K (k <= 5000),\n"
    "                     eval.max_images=N, eval.batch, eval.iw_chunk, data.test=MANIFEST\n"
    "  --verbose          print the effective configuration first\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  mpirun -np 4 elbo eval configs/fashion_mlp.yaml --set eval.iw_samples=5000\n";

}  // namespace

int cmd_eval(int argc, char** argv) {
  RunArgs args;
  if (const int rc = parse_run_args(argc, argv, {"eval", kHelp, {"checkpoint", "out"}, {"verbose"}, true}, args); rc >= 0)
    return rc;
  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    const Config config = load_run_config(mpi, args);
    mpi.check_on_all_ranks([&] {
      if (!config.data.test.empty()) require_input_file("data.test", config.data.test, Expected::kManifest);
      if (!args.option("checkpoint").empty()) require_input_file("--checkpoint", args.option("checkpoint"), Expected::kCheckpoint);
    });
    evaluate(config, mpi, {args.option("checkpoint"), args.option("out")});
    return 0;
  });
}

}  // namespace elbo::cli
