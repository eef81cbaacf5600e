// The `elbo` binary: one entry point for training, evaluation, sampling and data tools.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: elbo <command> [args]\n"
               "  train CONFIG [--set section.key=value]...   train (or resume) the run of CONFIG\n"
               "  eval  CONFIG [--checkpoint FILE] [--set ...] test negative ELBO and importance-weighted NLL\n"
               "  sample CONFIG [--checkpoint FILE] [--out PNG] [--set ...]  grid of samples from a checkpoint\n"
               "  data convert --images F[,F] [--labels F[,F]] --out DIR [--shards N]\n"
               "  data inspect MANIFEST [--verify]\n"
               "  devices [--count cuda]                      CPU cores and BLAS, CUDA build, visible GPUs\n"
               "Launch several ranks with mpirun -np N elbo train CONFIG, or srun under Slurm.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "train") return elbo::cli::cmd_train(argc - 1, argv + 1);
  if (cmd == "eval") return elbo::cli::cmd_eval(argc - 1, argv + 1);
  if (cmd == "sample") return elbo::cli::cmd_sample(argc - 1, argv + 1);
  if (cmd == "data") return elbo::cli::cmd_data(argc - 1, argv + 1);
  if (cmd == "devices") return elbo::cli::cmd_devices(argc - 1, argv + 1);
  std::fprintf(stderr, "elbo: unknown command '%s'\n", cmd.c_str());
  usage();
  return 2;
}
