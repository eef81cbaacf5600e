// The `elbo` binary: one entry point for training, evaluation, pictures, plots, data
// and config tools. Each command answers --help itself.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"
#include "elbo/train/signals.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* synopsis;
};

const Command kCommands[] = {
    {"train", elbo::cli::cmd_train, "train CONFIG [--set KEY=VALUE]...      train (or resume) the run of CONFIG"},
    {"eval", elbo::cli::cmd_eval, "eval [CONFIG] [--checkpoint FILE]       test negative ELBO and importance-weighted NLL"},
    {"sample", elbo::cli::cmd_sample, "sample [CONFIG] [--checkpoint F] [--out PNG]   grid of prior samples"},
    {"reconstruct", elbo::cli::cmd_reconstruct, "reconstruct [CONFIG] [--checkpoint F] [--out PNG]   test images and reconstructions"},
    {"interpolate", elbo::cli::cmd_interpolate, "interpolate --checkpoint F --out PNG   latent interpolations between pairs of images"},
    {"encode", elbo::cli::cmd_encode, "encode --checkpoint F --out H5         posterior mean and log-variance of each image"},
    {"score", elbo::cli::cmd_score, "score --checkpoint F --out CSV|H5      per-image IW NLL and negative ELBO (anomalies)"},
    {"plot", elbo::cli::cmd_plot, "plot RUN_DIR [--out PNG]                curves of metrics.jsonl as a PNG"},
    {"scaling-plot", elbo::cli::cmd_scaling_plot, "scaling-plot DIR [--out PNG]            picture of a launch/scaling.sh sweep"},
    {"data", elbo::cli::cmd_data, "data convert|inspect ...                images -> HDF5 shards; look at a shard set"},
    {"config", elbo::cli::cmd_config, "config template [MODEL] | check CONFIG  commented config with every key; validate one"},
    {"devices", elbo::cli::cmd_devices, "devices [--count cuda]                  CPU cores, compute library, CUDA build, GPUs"},
    {"version", elbo::cli::cmd_version, "version                                 version, git commit and backends of this build"},
};

void usage(std::FILE* out) {
  std::fprintf(out, "usage: elbo <command> [args]   (elbo <command> --help: its flags and an example)\n\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %s\n", c.synopsis);
  std::fprintf(out,
               "\n  --version, -V                           same as `elbo version`\n"
               "\nLaunch several ranks with mpirun -np N elbo train CONFIG, or srun under Slurm.\n"
               "example:\n  elbo train configs/fashion_mlp.yaml --set run.dir=runs/first\n");
}

}  // namespace

int main(int argc, char** argv) {
  elbo::ignore_broken_pipes();
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || (cmd == "help" && argc == 2)) {
    usage(stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") return elbo::cli::cmd_version(argc - 1, argv + 1);
  if (cmd == "help") {  // elbo help COMMAND
    for (const Command& c : kCommands)
      if (argv[2] == std::string(c.name)) {
        char help_flag[] = "--help";
        char* args[] = {argv[2], help_flag, nullptr};
        return c.run(2, args);
      }
  }
  for (const Command& c : kCommands)
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  std::fprintf(stderr, "elbo: unknown command '%s'\n", cmd.c_str());
  usage(stderr);
  return 2;
}
