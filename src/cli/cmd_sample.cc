// elbo sample / elbo reconstruct: one picture from a checkpoint, without training.
// Rank 0 does the work; the picture goes where --out says, by default next to the
// checkpoint (its run folder for a checkpoint in <run>/checkpoints).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "elbo/data/shard_set.h"
#include "elbo/error.h"
#include "elbo/train/checkpoint.h"
#include "elbo/train/replica.h"
#include "elbo/train/run_outputs.h"
#include "elbo/train/sample_grids.h"
#include "elbo/train/training_state.h"
#include "help.h"
#include "model_tools.h"
#include "paths.h"
#include "run_args.h"

namespace elbo::cli {
namespace {

const char* kSampleHelp =
    "usage: elbo sample [CONFIG] [--checkpoint FILE] [--out PNG] [--count N] [--seed S] [--class K]\n"
    "                   [--temperature T[,T...]] [--set section.key=value]... [--verbose]\n"
    "\n"
    "Decodes prior samples z ~ N(0, I) of a checkpoint into a PNG grid: n x n by default\n"
    "(n = train.sample_grid), or --count N in rows of ceil(sqrt(N)). A conditional model\n"
    "(model.conditional) draws grid row r of class r mod model.classes, or every sample of\n"
    "class K with --class K. The same checkpoint, seed and count draw the same samples.\n"
    "\n"
    "  CONFIG             the run's YAML config; may be left out with --checkpoint, whose\n"
    "                     stored config is used then\n"
    "  --checkpoint FILE  the checkpoint (default: the newest valid one of run.dir)\n"
    "  --out PNG          where to write (a folder: the default name inside it); default:\n"
    "                     <run>/samples_step<S>.png next to the checkpoint's checkpoints/ folder\n"
    "  --count N          the number of samples (1 .. 10000; default: train.sample_grid squared,\n"
    "                     0 in the config: 64)\n"
    "  --seed S           the seed of the draws (an integer >= 0; default: run.seed)\n"
    "  --class K          conditional models: the class of every sample (0 .. model.classes-1)\n"
    "  --temperature T    the prior's standard deviations times T (default 1): z ~ N(0, T^2 I),\n"
    "                     the VampPrior's components with sigma times T; hvae: one value for\n"
    "                     every group or a comma list, one per group, top first (0.8,0.7,0.6)\n"
    "  --set KEY=VALUE    override a config key (repeatable)\n"
    "  --verbose          print the effective configuration first\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  elbo sample --checkpoint runs/fashion_mlp/checkpoints/ckpt_000004687.h5 --out samples.png\n"
    "  elbo sample --checkpoint runs/mnist_cvae/checkpoints/ckpt_000004687.h5 --class 7 --count 16 --seed 3\n"
    "  elbo sample --checkpoint runs/mnist_hvae_conv/checkpoints/ckpt_000010000.h5 --temperature 1.0,0.8,0.7\n";

const char* kReconstructHelp =
    "usage: elbo reconstruct [CONFIG] [--checkpoint FILE] [--out PNG] [--top-groups all|K[,K...]]\n"
    "                        [--temperature T[,T...]] [--set section.key=value]... [--verbose]\n"
    "\n"
    "Writes a PNG of the first test images (data.test; data.train when unset) in rows,\n"
    "each row followed by its reconstructions from the posterior mean.\n"
    "With --top-groups (hierarchical models, model.type hvae): a row of n test images, then\n"
    "a row per K whose groups 0..K-1 come from the posterior (means) and the others are\n"
    "drawn from the prior given them: K = 0 are samples, K = L reconstructions.\n"
    "\n"
    "  CONFIG             the run's YAML config; may be left out with --checkpoint, whose\n"
    "                     stored config is used then\n"
    "  --checkpoint FILE  the checkpoint (default: the newest valid one of run.dir)\n"
    "  --out PNG          where to write (a folder: the default name inside it); default:\n"
    "                     <run>/reconstructions_step<S>.png next to the checkpoint's checkpoints/ folder\n"
    "  --top-groups K     hvae: rows of reconstructions from the top K groups, K in 0..L\n"
    "                     (L = the number of groups), a comma list, or all: a row per K = 0..L\n"
    "  --temperature T    with --top-groups: the prior draws' standard deviations times T\n"
    "                     (one value, or one per group, top first)\n"
    "  --set KEY=VALUE    override a config key (repeatable); train.sample_grid=N: N per row\n"
    "  --verbose          print the effective configuration first\n"
    "  -h, --help         this help\n"
    "\n"
    "example:\n"
    "  elbo reconstruct configs/fashion_mlp.yaml --out runs/fashion_mlp/recon.png\n"
    "  elbo reconstruct --checkpoint runs/mnist_hvae_conv/checkpoints/ckpt_000010000.h5 --top-groups all\n";

enum class Picture { kSamples, kReconstructions };

// "0.8" or "1.0,0.9,0.8" -> the values; the model checks their count and sign.
std::vector<float> parse_temperatures(const std::string& text) {
  std::vector<float> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    const float t = std::strtof(item.c_str(), &end);
    ELBO_CHECK(!item.empty() && *end == '\0',
               "--temperature '" << text << "': expected numbers separated by commas (0.8, or 1.0,0.9,0.8)");
    out.push_back(t);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// "all" -> 0..groups; "2" or "0,2" -> those, each in 0..groups.
std::vector<int> parse_top_groups(const std::string& text, const VaeModel& model) {
  const int groups = model.kl_groups();
  std::vector<int> out;
  if (text == "all") {
    for (int k = 0; k <= groups; ++k) out.push_back(k);
    return out;
  }
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    char* end = nullptr;
    const long k = std::strtol(item.c_str(), &end, 10);
    ELBO_CHECK(!item.empty() && *end == '\0' && k >= 0 && k <= groups,
               "--top-groups '" << text << "': expected all or numbers of groups in 0.." << groups
                                << " separated by commas (the model has " << groups << " groups)");
    out.push_back(int(k));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

int write_picture(int argc, char** argv, const RunCommand& command, Picture picture) {
  RunArgs args;
  if (const int rc = parse_run_args(argc, argv, command, args); rc >= 0) return rc;
  int64_t count = 0, seed = 0;
  if (!args.option("count").empty() && !parse_count(args.option("count"), 1, 10000, &count))
    return usage_error(command.name, "--count " + args.option("count") + ": expected a number of samples, 1 .. 10000");
  if (!args.option("seed").empty()) {
    if (!parse_count(args.option("seed"), 0, INT64_MAX, &seed))
      return usage_error(command.name, "--seed " + args.option("seed") + ": expected an integer >= 0");
    // The config's own key, so that the effective config (--verbose) and the model's own
    // draws (an hvae's lower groups) see it too.
    args.overrides.push_back("run.seed=" + std::to_string(seed));
  }
  return run_on_ranks(argc, argv, [&](MpiContext& mpi) {
    const Config config = load_run_config(mpi, args);
    if (!mpi.is_root()) return 0;
    std::string path = args.option("checkpoint");
    CheckpointState st;
    if (path.empty()) {
      ResumeResult rr = find_latest_valid_checkpoint(config.run.dir);
      for (const std::string& w : rr.warnings) std::fprintf(stderr, "elbo: warning: %s\n", w.c_str());
      ELBO_CHECK(rr.found, "no valid checkpoint in " << config.run.dir << "/checkpoints (train first, or pass --checkpoint FILE)");
      path = rr.path;
      st = std::move(rr.state);
    } else {
      require_input_file("--checkpoint", path, Expected::kCheckpoint);
      st = load_checkpoint(path);
    }
    ELBO_CHECK(st.model_config_yaml == model_config_to_yaml(config.model),
               "checkpoint " << path << " was written for another model than the config's:\n"
                             << st.model_config_yaml << "the config in use has:\n"
                             << model_config_to_yaml(config.model));
    const bool samples = picture == Picture::kSamples;
    const bool use_test = !samples && !config.data.test.empty();
    const std::string manifest = use_test ? config.data.test : config.data.train;
    require_input_file(use_test ? "data.test" : "data.train", manifest, Expected::kManifest);
    const ShardSetInfo data = open_shard_set(manifest);
    check_checkpoint_sample_shape(st, path, data.sample_shape(), use_test ? "data.test" : "data.train", manifest);

    std::unique_ptr<Backend> be = make_backend(choose_device(config, mpi));
    std::unique_ptr<VaeModel> model = make_model(config.model, data.sample_shape(), *be, config.run.seed);
    restore_inference_weights(st, path, *be, model->params());
    const int n = config.train.sample_grid > 0 ? config.train.sample_grid : 8;
    const std::string name = step_file_name(samples ? "samples" : "reconstructions", st.step, ".png");
    const std::string out = resolve_output(args.option("out"), name, checkpoint_output_dir(path) + "/" + name);
    int cls = -1;
    if (!args.option("class").empty()) {
      ELBO_CHECK(model->condition_dim() > 0, "--class: the model of " << path << " is not conditional");
      char* end = nullptr;
      const long k = std::strtol(args.option("class").c_str(), &end, 10);
      ELBO_CHECK(*end == '\0' && k >= 0 && k < model->condition_dim(),
                 "--class " << args.option("class") << ": expected a class 0.." << model->condition_dim() - 1);
      cls = int(k);
    }
    const std::string top = samples ? "" : args.option("top-groups");
    if (!args.option("temperature").empty()) {
      ELBO_CHECK(samples || !top.empty(), "--temperature: reconstructions draw nothing from the prior; give "
                                          "--top-groups K too (hierarchical models)");
      model->set_sample_temperatures(parse_temperatures(args.option("temperature")));
    }
    if (!top.empty())
      ELBO_CHECK(model->kl_groups() > 1 || model->type() == "hvae",
                 "--top-groups: model.type " << model->type()
                                             << " has a single stochastic group; reconstructions from the top groups "
                                                "need a hierarchical model (model.type: hvae)");
    if (samples) {
      const int total = count > 0 ? int(count) : n * n;
      const int cols = count > 0 ? int(std::ceil(std::sqrt(double(count)))) : n;
      write_prior_samples_png(out, total, cols, config.run.seed, *be, *model, data, cls);
    }
    else if (!top.empty())
      write_top_group_reconstructions_png(out, n, parse_top_groups(top, *model), data, config.data.scale, *be, *model);
    else write_reconstructions_png(out, n, data, config.data.scale, *be, *model);
    std::printf("elbo %s: wrote %s (checkpoint %s, step %lld)\n", command.name.c_str(), out.c_str(), path.c_str(),
                static_cast<long long>(st.step));
    return 0;
  });
}

}  // namespace

int cmd_sample(int argc, char** argv) {
  return write_picture(argc, argv,
                       {"sample", kSampleHelp, {"checkpoint", "out", "count", "seed", "class", "temperature"}, {"verbose"}, true},
                       Picture::kSamples);
}

int cmd_reconstruct(int argc, char** argv) {
  return write_picture(argc, argv, {"reconstruct", kReconstructHelp, {"checkpoint", "out", "top-groups", "temperature"}, {"verbose"}, true},
                       Picture::kReconstructions);
}

}  // namespace elbo::cli
