// elbo sample: a grid of prior samples (and reconstructions) from a checkpoint,
// without training.
#include <cstdio>

#include "commands.h"
#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "elbo/train/checkpoint.h"
#include "elbo/train/replica.h"
#include "elbo/train/sample_grids.h"
#include "elbo/train/training_state.h"
#include "run_args.h"

namespace elbo::cli {

int cmd_sample(int argc, char** argv) {
  RunArgs args;
  if (!parse_run_args(argc, argv, {"checkpoint"}, args)) return 2;
  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    Config config = load_config(args.config_path, args.overrides);
    if (!mpi.is_root()) return 0;
    std::string path = args.options.count("checkpoint") ? args.options["checkpoint"] : "";
    CheckpointState st;
    if (path.empty()) {
      ResumeResult rr = find_latest_valid_checkpoint(config.run.dir);
      for (const std::string& w : rr.warnings) std::fprintf(stderr, "elbo: warning: %s\n", w.c_str());
      ELBO_CHECK(rr.found, "no valid checkpoint in " << config.run.dir << "/checkpoints");
      path = rr.path;
      st = std::move(rr.state);
    } else {
      st = load_checkpoint(path);
    }
    ELBO_CHECK(st.model_config_yaml == model_config_to_yaml(config.model),
               "checkpoint " << path << " was written for another model than the config's");
    ShardSetInfo data = open_shard_set(config.data.train);
    std::unique_ptr<Backend> be = make_backend(choose_device(config, mpi));
    std::unique_ptr<VaeModel> model = make_model(config.model, int(data.sample_dim()), *be, config.run.seed);
    restore_state(st, path, *be, model->params(), nullptr);
    write_sample_grids(config, mpi, *be, *model, data);
    return 0;
  });
}

}  // namespace elbo::cli
